"""Synthetic receivables at scale, for benchmarks.

    python -m bench.generate --customers 100000 --invoices 1000000 [--database-url URL] [--truncate]

Creates the schema through the app (migrations and roles), then bulk loads customers, their
contacts and addresses, and invoices: PostgreSQL COPY (psycopg 3) or, on SQLite, executemany in
big batches. Invoices get valid, unique OGM and RF references from one block reserved on the
product's own counter, a realistic status mix, open amounts that follow from the status, and
every customer's balance is the sum of its open invoices.

Each table's figure is printed next to a baseline measured in the same run: the same rows loaded
the same way into a temporary table without indexes or constraints, so the cost of the real
schema (keys, unique references, foreign keys, indexes) is visible.
"""
from __future__ import annotations

import itertools
import math
import os
import random
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import click
from flask_appbuilder import Model
from sqlalchemy import text

from app.core import sequences
from app.core.time import business_today
from app.extensions import db
from app.invoices.references import references_for_number

# Rows that are configuration or security, not receivables: never checked, never truncated.
# Configuration, not receivables: kept by --truncate and not counted as "data" (the shipped
# templates, dunning policies and reference rates are installed by prepare_database).
# The audit trail is kept too: set-up itself writes to it, and it is append-only by design.
KEPT_TABLES = {"alembic_version", "setting", "plugin_config", "number_sequence",
               "message_template", "dunning_policy", "dunning_level", "reference_rate",
               "retention_rule", "audit_event"}
SQLITE_BATCH = 50_000
PROGRESS_STEP = 10_000

# --- What the synthetic population looks like -------------------------------------------------
FIRST_NAMES = {
    "fr": ["Sophie", "Jean", "Marie", "Luc", "Camille", "Julien", "Nathalie", "Olivier", "Chloé",
           "Thomas", "Isabelle", "Nicolas", "Amélie", "François", "Léa", "Mathieu"],
    "nl": ["Pieter", "Els", "Koen", "An", "Bart", "Lotte", "Wim", "Griet", "Jeroen", "Sanne",
           "Tom", "Lien", "Joris", "Femke", "Stijn", "Hanne"],
    "en": ["James", "Emily", "Oliver", "Sarah", "Daniel", "Laura", "Michael", "Emma"],
}
LAST_NAMES = {
    "fr": ["Lambert", "Dubois", "Renard", "Lefèvre", "Mertens", "Jacquet", "Collignon", "Dupont",
           "Leclercq", "Gillet", "Martin", "Moreau", "Girard", "Lefort", "Simon", "Laurent"],
    "nl": ["Janssens", "Vermeulen", "Peeters", "De Smet", "Claes", "Wouters", "Maes", "Desmet",
           "Jacobs", "Willems", "Goossens", "De Vries", "Bakker", "Visser", "Van Dijk", "Smits"],
    "en": ["Carter", "O'Connor", "Grant", "Cohen", "Walker", "Wright", "Hughes", "Taylor"],
}
ACTIVITIES = {
    "fr": ["Boulangerie", "Garage", "Menuiserie", "Imprimerie", "Transports", "Atelier"],
    "nl": ["Bakkerij", "Garage", "Schrijnwerkerij", "Drukkerij", "Transport", "Bouwbedrijf"],
    "en": ["Consulting", "Digital", "Logistics", "Design", "Trading", "Analytics"],
}
LEGAL_FORMS = {("BE", "fr"): ["SRL", "SA"], ("BE", "nl"): ["BV", "NV"], ("BE", "en"): ["SRL"],
               ("NL", "nl"): ["B.V."], ("FR", "fr"): ["SARL", "SAS"]}
STREETS = {"fr": ["Rue de la Station", "Avenue des Tilleuls", "Rue du Moulin",
                  "Chaussée de Namur", "Rue de l'Église", "Place du Marché"],
           "nl": ["Stationsstraat", "Kerkstraat", "Molenstraat", "Dorpsstraat", "Nieuwstraat",
                  "Markt"]}
CITIES = {("BE", "fr"): [("1000", "Bruxelles"), ("4000", "Liège"), ("5000", "Namur"),
                         ("6000", "Charleroi"), ("7000", "Mons"), ("1300", "Wavre")],
          ("BE", "nl"): [("2000", "Antwerpen"), ("9000", "Gent"), ("3000", "Leuven"),
                         ("8000", "Brugge"), ("3500", "Hasselt"), ("1000", "Brussel")],
          ("NL", "nl"): [("1011 AB", "Amsterdam"), ("3011 AA", "Rotterdam"), ("3511 AZ", "Utrecht"),
                         ("5611 ET", "Eindhoven"), ("2511 BT", "Den Haag")],
          ("FR", "fr"): [("59000", "Lille"), ("75011", "Paris"), ("69002", "Lyon"),
                         ("51100", "Reims"), ("54000", "Nancy")]}
CITIES[("BE", "en")] = CITIES[("BE", "fr")]
MONTHS = {
    # French months carry their preposition: "de mars" but "d'avril".
    "fr": ["de janvier", "de février", "de mars", "d'avril", "de mai", "de juin", "de juillet",
           "d'août", "de septembre", "d'octobre", "de novembre", "de décembre"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}
DESCRIPTIONS = {"fr": "Prestations {month} {year}", "nl": "Prestaties {month} {year}",
                "en": "Services for {month} {year}"}
MAILBOX = {"fr": "facturation", "nl": "facturatie", "en": "accounts"}

HISTORY_DAYS = 730  # invoices issued over the last two years
TERMS = (14, 30, 30, 30, 60)  # payment terms in days
LOWEST_CENTS, HIGHEST_CENTS = 3_500, 480_000  # EUR 35 to EUR 4,800
OPEN, PARTLY_PAID, PAID, WRITTEN_OFF, CANCELLED = range(5)
STATUS_NAMES = ("open", "partially_paid", "paid", "written_off", "cancelled")


# --- Planning: every random draw, kept compact --------------------------------------------------
@dataclass
class Person:
    kind: str
    country: str
    language: str
    first: str
    last: str


@dataclass
class Plan:
    """Everything the rows are made of: people, and one compact array per invoice attribute."""

    people: list[Person]
    owner: array = field(default_factory=lambda: array("l"))  # customer index
    age: array = field(default_factory=lambda: array("h"))  # days since the issue date
    term: array = field(default_factory=lambda: array("h"))
    total: array = field(default_factory=lambda: array("q"))  # cents
    open: array = field(default_factory=lambda: array("q"))  # cents
    status: array = field(default_factory=lambda: array("b"))
    paid_age: array = field(default_factory=lambda: array("h"))  # days since paid, -1 if not
    balance: list[int] = field(default_factory=list)  # cents per customer


def plan_people(rng: random.Random, count: int) -> list[Person]:
    people = []
    for _ in range(count):
        r = rng.random()
        country = "BE" if r < 0.8 else "NL" if r < 0.92 else "FR"
        if country == "BE":
            r = rng.random()
            language = "nl" if r < 0.55 else "fr" if r < 0.95 else "en"
        else:
            language = "nl" if country == "NL" else "fr"
        people.append(Person("company" if rng.random() < 0.3 else "person", country, language,
                             rng.choice(FIRST_NAMES[language]), rng.choice(LAST_NAMES[language])))
    return people


def plan_invoices(rng: random.Random, people: list[Person], count: int) -> Plan:
    """Draw owner, dates, amount and status of every invoice; balances follow."""
    plan = Plan(people, balance=[0] * len(people))
    weights = [4 if p.kind == "company" else 1 for p in people]  # companies buy more
    plan.owner = array("l", rng.choices(range(len(people)), weights=weights, k=count))
    rand, randrange, exp = rng.random, rng.randrange, math.exp
    log_low, log_span = math.log(LOWEST_CENTS), math.log(HIGHEST_CENTS / LOWEST_CENTS)
    balance, owner = plan.balance, plan.owner
    for i in range(count):
        age = randrange(HISTORY_DAYS)
        term = TERMS[randrange(5)]
        total = int(exp(log_low + log_span * rand()))
        days_late, r = age - term, rand()
        if days_late < 0:
            status = OPEN if r < 0.85 else PAID if r < 0.95 else PARTLY_PAID
        else:  # the longer past due, the likelier it was paid (or written off)
            unpaid = 0.04 + 0.45 * exp(-days_late / 45)
            status = (OPEN if r < unpaid * 0.8 else PARTLY_PAID if r < unpaid
                      else WRITTEN_OFF if r < unpaid + 0.01 else CANCELLED if r < unpaid + 0.02
                      else PAID)
        paid_age = -1
        if status == OPEN:
            open_cents = total
        elif status == PARTLY_PAID:
            open_cents = total * randrange(10, 90) // 100
        else:
            open_cents = 0
            if status == PAID:
                paid_age = max(age - randrange(term + 20), 0)
        balance[owner[i]] += open_cents
        plan.age.append(age)
        plan.term.append(term)
        plan.total.append(total)
        plan.open.append(open_cents)
        plan.status.append(status)
        plan.paid_age.append(paid_age)
    return plan


# --- Rows -----------------------------------------------------------------------------------------
def _ascii(value: str) -> str:
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()


def _slug(value: str) -> str:
    return "".join(c for c in _ascii(value).lower() if c.isalnum())


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def be_vat(n: int) -> str:
    base = 4_000_000 + n  # "04xxxxxx": the 8 digits before the mod-97 check
    return f"BE{base:08d}{97 - base % 97:02d}"


def nl_vat(n: int) -> str:
    base = 10_000_000 + n
    while True:  # the 9th digit makes the weighted sum divisible by 11; not every base has one
        digits = f"{base:08d}"
        check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return f"NL{digits}{check}B01"
        base += 1


def fr_vat(n: int) -> str:
    digits = f"{10_000_000 + n:08d}"
    for last in range(10):  # the SIREN's Luhn check digit
        siren = digits + str(last)
        total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10))
                    for i, d in enumerate(reversed(siren)))
        if total % 10 == 0:
            return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    raise AssertionError("unreachable: one of ten digits always passes Luhn")


def references(number: int) -> tuple[str, str]:
    """app.invoices.references.references_for_number, in plain integer arithmetic.

    About ten times faster, which matters at a million rows; generate() checks that both agree.
    OGM: 10 digits + (base mod 97, 97 for 0). RF: ISO 7064 mod 97-10 over the OGM followed by
    "RF00" read as digits (R=27, F=15), i.e. OGM * 10**6 + 271500.
    """
    ogm = f"{number:010d}{number % 97 or 97:02d}"
    return ogm, f"RF{98 - (int(ogm) * 1_000_000 + 271_500) % 97:02d}{ogm}"


VAT = {"BE": be_vat, "NL": nl_vat, "FR": fr_vat}
PHONE_PREFIX = {"BE": "+324", "NL": "+316", "FR": "+336"}


class Rows:
    """The rows of each table, made on the fly from the plan (same rows for load and baseline)."""

    def __init__(self, plan: Plan, today: date, first_ids: dict[str, int], first_reference: int,
                 postgres: bool):
        self.plan, self.today, self.first_ids = plan, today, first_ids
        self.first_reference = first_reference
        # SQLAlchemy stores timestamps on SQLite as naive UTC text; PostgreSQL parses the zone.
        self.clock = "+00" if postgres else ".000000"
        self.now = f"{today.isoformat()} 12:00:00{self.clock}"
        companies = [i for i, p in enumerate(plan.people) if p.kind == "company"]
        self.reminder_contacts = set(companies[::4])  # one company in four has a second contact
        self.counts = {"customer": len(plan.people), "address": len(plan.people),
                       "contact": len(plan.people) + len(self.reminder_contacts),
                       "invoice": len(plan.owner)}

    CUSTOMER = ("id", "number", "name", "kind", "vat_number", "language", "country", "email",
                "phone", "delivery_channel", "sms_reminders", "payment_method",
                "preferred_payment_day", "legal_status", "risk_flags", "balance", "created_at",
                "updated_at")

    def customer(self) -> Iterator[tuple]:
        first_id, now, balance = self.first_ids["customer"], self.now, self.plan.balance
        for i, p in enumerate(self.plan.people):
            tld = p.country.lower()
            if p.kind == "company":
                forms = LEGAL_FORMS[(p.country, p.language)]
                form = forms[i % len(forms)]
                name = f"{ACTIVITIES[p.language][i % 6]} {p.last} {form}"
                email = f"{MAILBOX[p.language]}.{_slug(p.last)}{i}@example.{tld}"
                vat = VAT[p.country](i)
            else:
                name = f"{p.first} {p.last}"
                email = f"{_slug(p.first)}.{_slug(p.last)}.{i}@example.{tld}"
                vat = None
            legal = ("legal_proceedings" if i % 500 == 7 else
                     "collection_agency" if i % 500 == 11 else "none")
            yield (first_id + i, f"K{i + 1:08d}", name, p.kind, vat, p.language, p.country,
                   email, f"{PHONE_PREFIX[p.country]}{70_000_000 + i:08d}",
                   "paper" if i % 10 == 3 else "email", i % 4 == 1, "transfer",
                   None if i % 7 else 25, legal, "[]", money(balance[i]), now, now)

    CONTACT = ("id", "customer_id", "name", "role", "email", "phone", "language",
               "portal_access", "created_at", "updated_at")

    def contact(self) -> Iterator[tuple]:
        ids, now = itertools.count(self.first_ids["contact"]), self.now
        first_customer = self.first_ids["customer"]
        for i, p in enumerate(self.plan.people):
            tld, phone = p.country.lower(), f"{PHONE_PREFIX[p.country]}{70_000_000 + i:08d}"
            email = f"{_slug(p.first)}.{_slug(p.last)}.{i}@example.{tld}"
            # A company's billing contact is a person there; a person is their own contact.
            yield (next(ids), first_customer + i, f"{p.first} {p.last}", "billing", email,
                   phone, p.language, True, now, now)
            if i in self.reminder_contacts:
                other = FIRST_NAMES[p.language][i % len(FIRST_NAMES[p.language])]
                yield (next(ids), first_customer + i, f"{other} {p.last}", "reminder",
                       f"{_slug(other)}.{_slug(p.last)}.{i}@example.{tld}", None, p.language,
                       False, now, now)

    ADDRESS = ("id", "customer_id", "kind", "line1", "line2", "postal_code", "city", "country",
               "created_at", "updated_at")

    def address(self) -> Iterator[tuple]:
        first_id, first_customer = self.first_ids["address"], self.first_ids["customer"]
        now = self.now
        for i, p in enumerate(self.plan.people):
            streets = STREETS["nl" if p.language == "nl" else "fr"]
            postal_code, city = CITIES[(p.country, p.language)][i % 5]
            line1 = (f"{1 + i % 180} {streets[i % 6].lower()}" if p.country == "FR"
                     else f"{streets[i % 6]} {1 + i % 180}")
            yield (first_id + i, first_customer + i, "billing", line1,
                   "Boîte 2" if i % 9 == 0 else None, postal_code, city, p.country, now, now)

    INVOICE = ("id", "customer_id", "number", "issue_date", "due_date", "currency",
               "total_amount", "open_amount", "structured_reference", "rf_reference",
               "description", "status", "disputed", "disputed_amount", "dunning_blocked",
               "dunning_level", "paid_on", "created_at", "updated_at")

    def invoice(self) -> Iterator[tuple]:
        plan, today, people = self.plan, self.today, self.plan.people
        # Dates, timestamps and descriptions repeat: made once per day, not once per row.
        days = [(today - timedelta(days=age)) for age in range(-max(TERMS), HISTORY_DAYS)]
        offset = max(TERMS)
        day_text = [d.isoformat() for d in days]
        stamps = [f"{d} 08:00:00{self.clock}" for d in day_text]
        descriptions = {lang: [DESCRIPTIONS[lang].format(month=MONTHS[lang][d.month - 1],
                                                         year=d.year) for d in days]
                        for lang in DESCRIPTIONS}
        first_id, first_customer = self.first_ids["invoice"], self.first_ids["customer"]
        first_reference, now = self.first_reference, self.now
        owner, ages, terms, totals, opens, statuses, paid_ages = (
            plan.owner, plan.age, plan.term, plan.total, plan.open, plan.status, plan.paid_age)
        for i in range(len(owner)):
            customer, age, status = owner[i], ages[i] + offset, statuses[i]
            ogm, rf = references(first_reference + i)
            paid_age = paid_ages[i]
            yield (first_id + i, first_customer + customer, f"INV{i + 1:09d}", day_text[age],
                   day_text[age - terms[i]], "EUR", money(totals[i]), money(opens[i]), ogm, rf,
                   descriptions[people[customer].language][age], STATUS_NAMES[status], False,
                   "0.00", False, 0, None if paid_age < 0 else day_text[paid_age + offset],
                   stamps[age], now)


# --- Loading --------------------------------------------------------------------------------------
class Loader:
    """COPY on PostgreSQL, executemany in big batches on SQLite, on one raw DBAPI connection."""

    def __init__(self, raw_connection, postgres: bool, progress: bool):
        self.raw, self.postgres, self.progress = raw_connection, postgres, progress

    def load(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple], count: int,
             label: str) -> float:
        started = time.perf_counter()
        with click.progressbar(length=count, label=f"{label:<20}", hidden=not self.progress,
                               show_pos=True) as bar:
            if self.postgres:
                # Into an empty table, building each secondary index once after the COPY is
                # faster than updating it row by row (a profile of 1M invoices: most of the load
                # time beyond the baseline's was index upkeep), and so is checking a foreign key
                # or a unique reference once for the whole table instead of per row (a trigger
                # call per row and its look-up). Same transaction: a failed load rolls it all
                # back, and adding a constraint back checks every row loaded, so the data is
                # held to exactly the same rules. The primary key stays.
                indexes = self._secondary_indexes(table)
                constraints = self._checkable_constraints(table)
                self._execute("SET LOCAL maintenance_work_mem = '256MB'",
                              *(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'
                                for name, _ in constraints),
                              *(f'DROP INDEX "{name}"' for name, _ in indexes))
                self._copy(table, columns, rows, bar)
                self._execute(*(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
                                for name, definition in constraints),
                              *(definition for _, definition in indexes))
            else:
                self._insert(table, columns, rows, bar)
        return time.perf_counter() - started

    def _secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        """(name, CREATE INDEX ...) of the table's indexes that back no constraint."""
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class c ON c.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)", (table,))
            return list(cursor.fetchall())

    def _checkable_constraints(self, table: str) -> list[tuple[str, str]]:
        """(name, definition) of the table's unique constraints that no foreign key relies on,
        then its foreign keys: what can be dropped before the load and added (checked) after."""
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
                "WHERE k.conrelid = %s::regclass AND (k.contype = 'f' OR (k.contype = 'u' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' "
                "AND f.conindid = k.conindid))) ORDER BY k.contype DESC, k.conname", (table,))
            return list(cursor.fetchall())

    def _execute(self, *statements: str) -> None:
        with self.raw.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def _copy(self, table, columns, rows, bar) -> None:
        with (self.raw.cursor() as cursor,
              cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy):
            write = copy.write_row
            for n, row in enumerate(rows, start=1):
                write(row)
                if n % PROGRESS_STEP == 0:
                    bar.update(PROGRESS_STEP)
        bar.update(bar.length - bar.pos)

    def _insert(self, table, columns, rows, bar) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        cursor = self.raw.cursor()
        rows = iter(rows)
        while batch := list(itertools.islice(rows, SQLITE_BATCH)):
            cursor.executemany(sql, batch)
            bar.update(len(batch))
        cursor.close()

    def baseline(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple], count: int
                 ) -> float:
        """The same rows into a temporary copy of the table with no index or constraint."""
        cursor = self.raw.cursor()
        cursor.execute("DROP TABLE IF EXISTS bench_baseline")
        select = f"SELECT {', '.join(columns)} FROM {table}"
        cursor.execute(f"CREATE TEMPORARY TABLE bench_baseline AS {select} "
                       + ("WITH NO DATA" if self.postgres else "WHERE 0"))
        cursor.close()
        seconds = self.load("bench_baseline", columns, rows, count, f"{table} (baseline)")
        self.raw.commit()
        cursor = self.raw.cursor()
        cursor.execute("DROP TABLE bench_baseline")
        cursor.close()
        self.raw.commit()
        return seconds


# --- The run --------------------------------------------------------------------------------------
@dataclass
class TableResult:
    table: str
    rows: int
    seconds: float
    baseline_seconds: float | None = None


@dataclass
class Report:
    dialect: str
    plan_seconds: float
    tables: list[TableResult]
    finish_seconds: float
    references: range

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def total_seconds(self) -> float:
        return self.plan_seconds + sum(t.seconds for t in self.tables) + self.finish_seconds


class NotEmpty(click.ClickException):
    """The database already holds receivables: loading on top would mix real and synthetic."""


def domain_tables() -> list[str]:
    """Receivables tables, children first (the order to empty them in)."""
    return [t.name for t in reversed(Model.metadata.sorted_tables)
            if t.name not in KEPT_TABLES and not t.name.startswith("ab_")]


def empty_or_refuse(truncate: bool) -> None:
    tables = domain_tables()
    if truncate:
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        return
    filled = [t for t in tables if db.session.scalar(text(f"SELECT 1 FROM {t} LIMIT 1"))]
    if filled:
        raise NotEmpty(
            f"The database already holds data ({', '.join(filled[:5])}"
            f"{', ...' if len(filled) > 5 else ''}). Run with --truncate to empty the "
            "receivables tables first (staff users, roles and settings are kept), or point "
            "--database-url at an empty database.")


def generate(customers: int, invoices: int, *, seed: int = 1, today: date | None = None,
             truncate: bool = False, baseline: bool = True, progress: bool = True,
             echo: Callable[[str], None] = click.echo) -> Report:
    """Load the synthetic data into the app's database (call inside an app context)."""
    today = today or business_today()
    postgres = db.engine.dialect.name == "postgresql"
    empty_or_refuse(truncate)
    block = (sequences.allocate(db.session, sequences.PAYMENT_REFERENCE, invoices)
             if invoices else range(0))
    first_ids = {t: (db.session.scalar(text(f"SELECT max(id) FROM {t}")) or 0) + 1
                 for t in ("customer", "contact", "address", "invoice")}
    db.session.commit()  # the block of references is ours, whatever happens next
    for number in (block.start, block.stop - 1) if invoices else ():
        if references(number) != references_for_number(number):
            raise AssertionError(f"fast references disagree with the app's for {number}")

    started = time.perf_counter()
    rng = random.Random(seed)
    plan = plan_invoices(rng, plan_people(rng, customers), invoices)
    plan_seconds = time.perf_counter() - started
    echo(f"planned {customers:,} customers and {invoices:,} invoices in {plan_seconds:.1f} s")

    rows = Rows(plan, today, first_ids, block.start if invoices else 0, postgres)
    tables = [("customer", Rows.CUSTOMER), ("contact", Rows.CONTACT),
              ("address", Rows.ADDRESS), ("invoice", Rows.INVOICE)]
    pool_connection = db.engine.raw_connection()
    raw = pool_connection.driver_connection
    try:
        loader = Loader(raw, postgres, progress)
        results = [TableResult(name, rows.counts[name],
                               loader.load(name, columns, getattr(rows, name)(), rows.counts[name],
                                           name))
                   for name, columns in tables]
        started = time.perf_counter()
        if postgres:  # ids were given explicitly: move the id sequences past them
            cursor = raw.cursor()
            for name, _ in tables:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                               f"(SELECT coalesce(max(id), 1) FROM {name}))")
            cursor.close()
        raw.commit()
        finish_seconds = time.perf_counter() - started
        if postgres:
            raw.autocommit = True
            # VACUUM too: a fresh table has no visibility map yet, and without one the
            # index-only scans the staff figures rely on still read every heap page.
            raw.execute("VACUUM (ANALYZE) " + ", ".join(name for name, _ in tables))
            raw.autocommit = False
        if baseline:
            for result, (name, columns) in zip(results, tables, strict=True):
                result.baseline_seconds = loader.baseline(name, columns, getattr(rows, name)(),
                                                          result.rows)
    except BaseException:
        raw.rollback()
        raise
    finally:
        pool_connection.close()
    return Report(db.engine.dialect.name, plan_seconds, results, finish_seconds, block)


def format_report(report: Report) -> list[str]:
    def rate(rows: int, seconds: float | None) -> str:
        return f"{rows / seconds:>12,.0f}" if seconds else f"{'-':>12}"

    lines = [(f"{'table':<10}{'rows':>12}{'seconds':>10}{'rows/s':>12}   |"
              f"{'baseline s':>12}{'rows/s':>12}{'x slower':>10}")]
    for t in report.tables:
        ratio = f"{t.seconds / t.baseline_seconds:>10.1f}" if t.baseline_seconds else ""
        base = f"{t.baseline_seconds:>12.2f}" if t.baseline_seconds is not None else f"{'-':>12}"
        lines.append(f"{t.table:<10}{t.rows:>12,}{t.seconds:>10.2f}{rate(t.rows, t.seconds)}   |"
                     f"{base}{rate(t.rows, t.baseline_seconds)}{ratio}")
    baseline_total = (report.plan_seconds + sum(t.baseline_seconds for t in report.tables)
                      if all(t.baseline_seconds is not None for t in report.tables) else None)
    base = f"{baseline_total:>12.2f}" if baseline_total is not None else f"{'-':>12}"
    lines.append(f"{'TOTAL':<10}{report.total_rows:>12,}{report.total_seconds:>10.2f}"
                 f"{rate(report.total_rows, report.total_seconds)}   |{base}"
                 f"{rate(report.total_rows, baseline_total)}")
    lines.append(f"(total = planning {report.plan_seconds:.2f} s + loads + commit "
                 f"{report.finish_seconds:.2f} s; baseline = the same rows, loaded the same way, "
                 "into a temporary table without indexes or constraints)")
    return lines


def database_url(given: str | None) -> str:
    url = given or os.environ.get("DATABASE_URL")
    if not url:
        from config import Config

        return Config.SQLALCHEMY_DATABASE_URI  # the embedded SQLite file under instance/
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@click.command()
@click.option("--customers", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--invoices", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option("--database-url", "url", help="Default: DATABASE_URL, else the embedded SQLite file.")
@click.option("--truncate", is_flag=True,
              help="Empty the receivables tables first (users, roles and settings are kept).")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option("--no-baseline", is_flag=True, help="Skip the baseline loads.")
def main(customers: int, invoices: int, url: str | None, truncate: bool, seed: int,
         no_baseline: bool) -> None:
    """Bulk load synthetic customers and invoices, and print rows/s next to a baseline."""
    from app import create_app
    from app.setup_cli import prepare_database
    from config import Config

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=database_url(url), SEED_DEMO_DATA=False,
                     JOBS_MODE="sync")
    with app.app_context():
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        started = time.perf_counter()
        prepare_database()
        click.echo(f"schema (migrations and roles) ready in {time.perf_counter() - started:.1f} s")
        report = generate(customers, invoices, seed=seed, truncate=truncate,
                          baseline=not no_baseline)
        click.echo("")
        for line in format_report(report):
            click.echo(line)
        invoice = next(t for t in report.tables if t.table == "invoice")
        click.echo(f"\n{invoice.rows:,} invoices with {report.total_rows - invoice.rows:,} "
                   f"customer rows in {report.total_seconds:.1f} s on {report.dialect}.")
        db.engine.dispose()


if __name__ == "__main__":
    main()
