"""Demo data for a first start: customers, invoices in every state, payments, requests, staff.

Everything goes through the real services (clean_customer/upsert_customer, clean_invoice/
upsert_invoice, clean_payment/post_payment), so references, open amounts, statuses and balances
are exactly what the product would compute. A fixed random seed makes the demo the same on every
installation; dates are relative to ``today`` so the receivables always look current.

Why one module of about 600 lines: the demo data reads as one story, and nothing but run.py
and the tests imports it.
"""
from __future__ import annotations

import logging
import math
import os
import random
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask import Flask
from sqlalchemy import select

from app.core import sequences
from app.core.models import ZERO
from app.core.roles import STAFF_ROLES
from app.core.time import business_today
from app.customers.models import BankAccount, Contact, Customer, Mandate
from app.customers.services import clean_customer, upsert_customer
from app.extensions import db
from app.invoices.models import Invoice, InvoiceLine
from app.invoices.references import format_ogm, make_ogm
from app.invoices.services import clean_invoice, upsert_invoice
from app.payments.services import clean_payment, post_payment
from app.requests.models import CustomerRequest, Deferral, Dispute, Installment, PaymentPlan

log = logging.getLogger(__name__)
DEMO_SEED = 20240917
CENT = Decimal("0.01")
# The demo's own SEPA creditor identifier (valid check digits, fictitious enterprise number).
DEMO_CREDITOR_ID = "BE33ZZZ0481730605"

# How many invoices of each kind the demo holds, relative to `today` (the tests count them):
# not_due = open, due in 8+ days; due_soon = open, due in 1-7 days; overdue_N = open, about N
# days past due; partly_paid / paid = with a payment allocated; disputed = an open dispute.
INVOICE_STATES = {
    "not_due": 60, "due_soon": 24, "overdue_5": 20, "overdue_20": 20, "overdue_45": 16,
    "overdue_90": 14, "partly_paid": 24, "disputed": 10, "paid": 112,
}
# Days past due (negative: days before due) drawn for each state.
_DUE_OFFSETS = {
    "due_soon": (-7, -1), "overdue_5": (3, 7), "overdue_20": (17, 23), "overdue_45": (40, 50),
    "overdue_90": (85, 100), "partly_paid": (-20, 60), "disputed": (-10, 40), "paid": (-10, 330),
}
# Default service levels (hours); the live values are Settings that staff edit.
_SLA_HOURS = {"deferral": 48, "question": 72, "dispute": 120, "payment_plan": 48}

# --- Customers ------------------------------------------------------------------------------
# Fictitious people and companies; VAT numbers and IBANs carry valid check digits.
# `story` marks the customers the demo tells a particular story about.
_BE, _NL, _FR = "BE", "NL", "FR"


def _who(name: str, language: str, country: str, street: str, postal_code: str, city: str,
         phone: str, **more: object) -> dict:
    return {"name": name, "language": language, "country": country, "address_line1": street,
            "postal_code": postal_code, "city": city, "phone": phone, **more}


def _company(name: str, contact: str, vat: str, *where: str, **more: object) -> dict:
    return _who(name, *where, kind="company", contact_name=contact, vat_number=vat, **more)


CUSTOMERS: list[dict] = [
    # Brussels and Wallonia, French-speaking people
    _who("Sophie Lambert", "fr", _BE, "Rue des Éperonniers 12", "1000", "Bruxelles",
         "+32475123401", sms_reminders=True, iban="BE85001062907206", bic="GEBABEBB"),
    _who("Jean-Luc Dubois", "fr", _BE, "Rue Saint-Gilles 45", "4000", "Liège", "+3242234567",
         delivery_channel="paper"),
    _who("Amélie Renard", "fr", _BE, "Avenue Louise 231", "1050", "Ixelles", "+32486234502",
         preferred_payment_day=25, refund_iban="BE17751099170921"),
    _who("Marc Lefèvre", "fr", _BE, "Rue de Fer 18", "5000", "Namur", "+32497345603",
         legal_status="legal_proceedings", story="legal"),
    _who("Nathalie Mertens", "fr", _BE, "Chaussée de Bruxelles 102", "1410", "Waterloo",
         "+32477456704", iban="BE13734403765539", bic="KREDBEBB"),
    _who("Olivier Jacquet", "fr", _BE, "Rue de Nimy 7", "7000", "Mons", "+3265345678"),
    _who("Isabelle Collignon", "fr", _BE, "Boulevard Tirou 56", "6000", "Charleroi",
         "+32471567805", sms_reminders=True),
    # Flanders and Brussels, Dutch-speaking people
    _who("Pieter Janssens", "nl", _BE, "Meir 54", "2000", "Antwerpen", "+32476678906",
         sms_reminders=True, iban="BE39363727536719", bic="BBRUBEBB"),
    _who("Els Vermeulen", "nl", _BE, "Veldstraat 23", "9000", "Gent", "+32479789007",
         payment_method="direct_debit", preferred_payment_day=5, iban="BE38068701576472",
         bic="GKCCBEBB", story="direct_debit"),
    _who("Koen Peeters", "nl", _BE, "Bondgenotenlaan 88", "3000", "Leuven", "+32468890108",
         story="plan"),
    _who("An De Smet", "nl", _BE, "Steenstraat 12", "8000", "Brugge", "+3250334455",
         delivery_channel="paper"),
    _who("Bart Claes", "nl", _BE, "Grote Markt 5", "3500", "Hasselt", "+32495901209"),
    _who("Lotte Wouters", "nl", _BE, "Antoine Dansaertstraat 30", "1000", "Brussel",
         "+32472012310", iban="BE17363152191121", bic="BBRUBEBB"),
    # English-speaking residents of Brussels
    _who("James O'Connor", "en", _BE, "Rue Franklin 110", "1000", "Bruxelles", "+32470123411"),
    _who("Emily Carter", "en", _BE, "Avenue de Tervueren 150", "1150", "Woluwe-Saint-Pierre",
         "+32489234512", sms_reminders=True, iban="BE12068924503892", bic="GKCCBEBB"),
    # People in the Netherlands and France
    _who("Sanne de Vries", "nl", _NL, "Oudegracht 120", "3511 AZ", "Utrecht", "+31612345613",
         iban="NL37INGB0210655224", bic="INGBNL2A"),
    _who("Daan Bakker", "nl", _NL, "Keizersgracht 210", "1016 DZ", "Amsterdam", "+31623456714"),
    _who("Camille Martin", "fr", _FR, "12 rue Nationale", "59000", "Lille", "+33612345615"),
    _who("Julien Moreau", "fr", _FR, "8 place Stanislas", "54000", "Nancy", "+33623456716"),
    # Belgian companies
    _company("Boulangerie Dupont SRL", "Marie Dupont", "BE0671650665", "fr", _BE,
             "Rue Féronstrée 77", "4000", "Liège", "+3242201122", iban="BE10001117197904",
             bic="GEBABEBB"),
    _company("Brasserie du Sablon SRL", "Thomas Leclercq", "BE0526541437", "fr", _BE,
             "Rue de Rollebeek 9", "1000", "Bruxelles", "+3225127788"),
    _company("Janssens & Zonen BV", "Wim Janssens", "BE0731201935", "nl", _BE,
             "Noorderlaan 133", "2030", "Antwerpen", "+3235419900", iban="BE84734144195559",
             bic="KREDBEBB", reminder_contact="Hilde Wuyts"),
    _company("Vlaamse Bouwmaterialen NV", "Griet Maes", "BE0946043473", "nl", _BE,
             "Industrieweg 40", "9032", "Gent", "+3292260011", preferred_payment_day=15),
    _company("Atelier Meuse SA", "Pierre Gillet", "BE0440505506", "fr", _BE,
             "Rue des Brasseurs 3", "5000", "Namur", "+3281224433", delivery_channel="paper"),
    _company("Brussels Digital Services SRL", "Sarah Cohen", "BE0460763955", "en", _BE,
             "Rue du Luxembourg 14", "1000", "Bruxelles", "+3222345566",
             iban="BE26143712225029", bic="GEBABEBB"),
    _company("Hoeve De Linde BV", "Joris Desmet", "BE0849530453", "nl", _BE,
             "Kortrijksesteenweg 250", "8530", "Harelbeke", "+3256701234"),
    _company("Harbour Analytics SRL", "Oliver Grant", "BE0478962046", "en", _BE,
             "Parvis Sainte-Gudule 5", "1000", "Bruxelles", "+3222198877"),
    # Dutch and French companies
    _company("Van Dijk Logistiek B.V.", "Jeroen van Dijk", "NL882204828B01", "nl", _NL,
             "Waalhaven Zuidzijde 21", "3089 JH", "Rotterdam", "+31104567890",
             iban="NL80RABO0713326042", bic="RABONL2U", reminder_contact="Esther Jansen"),
    _company("Groene Tuin B.V.", "Femke Visser", "NL177844838B01", "nl", _NL,
             "Stratumseind 40", "5611 ET", "Eindhoven", "+31402345678"),
    _company("Transports Lefort SARL", "Nicolas Lefort", "FR38981068711", "fr", _FR,
             "45 rue du Molinel", "59800", "Lille", "+33320123456",
             iban="FR7630004837434805154016540", bic="BNPAFRPP"),
    _company("Maison Girard SAS", "Claire Girard", "FR05588163022", "fr", _FR,
             "17 rue de Vesle", "51100", "Reims", "+33326456789"),
]
_EXTRA_KEYS = ("iban", "bic", "refund_iban", "story", "reminder_contact")

# --- Invoice texts ---------------------------------------------------------------------------
_MONTHS = {
    # French months carry their preposition: "de mars" but "d'avril".
    "fr": ["de janvier", "de février", "de mars", "d'avril", "de mai", "de juin", "de juillet",
           "d'août", "de septembre", "d'octobre", "de novembre", "de décembre"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}
_SERVICES = {"fr": "Prestations {month} {year}", "nl": "Prestaties {month} {year}",
             "en": "Services for {month} {year}"}
# (fr, nl, en, lowest and highest unit price excluding VAT, VAT rate). Prices keep a 1-3 line
# invoice between EUR 35 and EUR 4,800; works on older homes take the 6 % rate.
_CATALOGUE = [
    ("Abonnement de maintenance", "Onderhoudsabonnement", "Maintenance subscription", 30, 120, 21),
    ("Intervention technique (heure)", "Technische interventie (uur)",
     "Technical call-out (hour)", 55, 95, 21),
    ("Pièces de rechange", "Wisselstukken", "Spare parts", 30, 250, 21),
    ("Frais de déplacement", "Verplaatsingskosten", "Travel costs", 30, 45, 21),
    ("Rénovation salle de bain (travaux)", "Renovatie badkamer (werken)",
     "Bathroom renovation (works)", 300, 1500, 6),
    ("Livraison de matériaux", "Levering van materialen", "Delivery of materials", 40, 400, 21),
]
_LANG_INDEX = {"fr": 0, "nl": 1, "en": 2}
_DISPUTE_TEXTS = {
    "wrong_amount": {"fr": "Le montant ne correspond pas au devis accepté.",
                     "nl": "Het bedrag komt niet overeen met de aanvaarde offerte.",
                     "en": "The amount does not match the quote we accepted."},
    "not_received": {"fr": "Nous n'avons jamais reçu la livraison.",
                     "nl": "Wij hebben de levering nooit ontvangen.",
                     "en": "We never received the delivery."},
    "quality": {"fr": "Le travail n'a pas été terminé correctement.",
                "nl": "Het werk werd niet correct afgewerkt.",
                "en": "The work was not finished properly."},
    "already_paid": {"fr": "J'ai déjà payé cette facture par virement.",
                     "nl": "Ik heb deze factuur al overgeschreven.",
                     "en": "I already paid this invoice by bank transfer."},
}


@dataclass
class DemoSummary:
    created: bool
    customers: int = 0
    invoices: int = 0
    payments: int = 0
    requests: int = 0
    states: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.created:
            return "demo data already present; nothing added"
        return (f"{self.customers} customers, {self.invoices} invoices, {self.payments} payments, "
                f"{self.requests} customer requests")


def seed_demo_data(today: date | None = None) -> DemoSummary:
    """Seed the demo once: does nothing when any customer exists. Needs an app context."""
    if db.session.scalar(select(Customer.id).limit(1)) is not None:
        return DemoSummary(created=False)
    summary = _DemoBuilder(today or business_today()).build()
    db.session.commit()
    return summary


# --- Staff users -----------------------------------------------------------------------------
# username, first name, last name, in the order of STAFF_ROLES (Admin, Credit manager, ...)
_STAFF_NAMES = (("admin", "Ada", "Admin"), ("credit", "Chloé", "Credit"),
                ("clerk", "Kevin", "Clerk"), ("compliance", "Carla", "Compliance"),
                ("readonly", "Rudi", "Reader"), ("erp", "ERP", "Integration"))
DEMO_STAFF = tuple((name, role, first, last)
                   for (name, first, last), role in zip(_STAFF_NAMES, STAFF_ROLES, strict=True))


def create_demo_staff(app: Flask) -> list[tuple[str, str, str]]:
    """Create one staff user per role that does not exist yet; returns (username, role, password).

    The password is DEMO_PASSWORD when set, else random per user and installation. Existing
    users are left alone and not returned, so their passwords are never printed again.
    """
    created = []
    with app.app_context():
        sm = app.appbuilder.sm
        for username, role_name, first, last in DEMO_STAFF:
            if sm.find_user(username=username) is not None:
                continue
            role = sm.find_role(role_name)
            if role is None:  # roles are made by prepare_database(); make them if it was skipped
                sm.sync_roles()
                role = sm.find_role(role_name)
            if role is None:  # a login without its role could do nothing: say so, create none
                log.error("Role %r does not exist; demo user %r not created.", role_name, username)
                continue
            password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
            user = sm.add_user(username, first, last, f"{username}@creditdesk.example.be", role,
                               password=password)
            if user:
                created.append((username, role_name, password))
    return created


# --- The builder -----------------------------------------------------------------------------
def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _email_for(name: str, country: str) -> str:
    local = "".join(c if c.isalnum() else "." for c in _ascii(name).lower())
    local = ".".join(part for part in local.split(".") if part)
    return f"{local}@example.{country.lower()}"


_LEGAL_FORMS = {"srl", "sa", "bv", "nv", "b.v.", "sarl", "sas", "&"}
_INVOICE_MAILBOX = {"fr": "facturation", "nl": "facturatie", "en": "accounts"}


def _company_email(name: str, language: str, country: str) -> str:
    words = [w for w in _ascii(name).lower().split() if w not in _LEGAL_FORMS]
    return f"{_INVOICE_MAILBOX[language]}.{'-'.join(words)}@example.{country.lower()}"


def _at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@dataclass
class _InvoiceSpec:
    customer: Customer
    state: str
    issue: date
    due: date
    total: Decimal
    lines: list[tuple[str, Decimal, Decimal, Decimal, Decimal]] = field(default_factory=list)
    invoice: Invoice | None = None


class _DemoBuilder:
    def __init__(self, today: date):
        self.today = today
        self.rng = random.Random(DEMO_SEED)
        self.customers: dict[str, Customer] = {}  # by story: "legal", "plan", "direct_debit"
        self.summary = DemoSummary(created=True, states=dict(INVOICE_STATES))
        self.payment_count = 0

    def build(self) -> DemoSummary:
        everyone = [self._customer(i, data) for i, data in enumerate(CUSTOMERS)]
        regular = [c for c in everyone if c not in self.customers.values()]
        special = self._special_specs()
        specs = special + self._regular_specs(regular, special)
        self._create_invoices(specs)
        self._mandate(specs)
        self._pay(specs)
        self._payment_plan([s for s in specs if s.customer is self.customers["plan"]])
        self._disputes([s for s in specs if s.state == "disputed"])
        self._other_requests(specs)
        self.summary.customers = len(CUSTOMERS)
        self.summary.invoices = len(specs)
        self.summary.payments = self.payment_count
        return self.summary

    # customers
    def _customer(self, index: int, data: dict) -> Customer:
        fields = {k: v for k, v in data.items() if k not in _EXTRA_KEYS}
        fields.setdefault("kind", "person")
        fields["number"] = f"C{10001 + index}"
        if fields["kind"] == "company":
            fields["email"] = _company_email(data["name"], data["language"], data["country"])
        else:
            fields["email"] = _email_for(data["name"], data["country"])
            fields["contact_name"] = data["name"]
        customer, _ = upsert_customer(clean_customer(fields))
        customer.created_at = _at(self.today - timedelta(days=self.rng.randint(400, 1500)))
        if customer.kind == "company":
            # The billing contact has a mailbox of their own, next to the company's.
            customer.contacts[0].email = _email_for(data["contact_name"], data["country"])
        if data.get("reminder_contact"):
            customer.contacts.append(Contact(
                role="reminder", name=data["reminder_contact"], language=customer.language,
                email=_email_for(data["reminder_contact"], data["country"])))
        purpose = "direct_debit" if customer.payment_method == "direct_debit" else "known"
        if data.get("iban"):
            customer.bank_accounts.append(BankAccount(
                iban=data["iban"], bic=data.get("bic"), holder=customer.name, purpose=purpose,
                status="active", active_from=customer.created_at))
        if data.get("refund_iban"):  # a refund account still in its cool-off period
            customer.bank_accounts.append(BankAccount(
                iban=data["refund_iban"], holder=customer.name, purpose="refund",
                status="pending", active_from=_at(self.today + timedelta(days=5))))
        if data.get("story"):
            self.customers[data["story"]] = customer
        return customer

    # invoices
    def _spec(self, customer: Customer, state: str, total: Decimal | None = None,
              due_offset: int | None = None) -> _InvoiceSpec:
        """An invoice in `state`; due_offset = days past due (negative: not yet due)."""
        company = customer.kind == "company"
        term = self.rng.choice((30, 30, 60) if company else (14, 30, 30))
        if due_offset is None:  # not_due: due in 8 days up to the term, so issued by today
            low, high = _DUE_OFFSETS.get(state, (-min(45, term), -8))
            due_offset = self.rng.randint(low, high)
        due = self.today - timedelta(days=due_offset)
        issue = min(due - timedelta(days=term), self.today)
        spec = _InvoiceSpec(customer, state, issue, due, ZERO)
        if total is not None:
            spec.total = total
        elif self.rng.random() < 0.35:
            spec.lines = self._lines(customer)
            spec.total = sum((line[4] for line in spec.lines), ZERO)
        else:
            low, high = (150, 4800) if company else (35, 650)
            spec.total = _money(math.exp(self.rng.uniform(math.log(low), math.log(high))))
        return spec

    def _lines(self, customer: Customer) -> list[tuple[str, Decimal, Decimal, Decimal, Decimal]]:
        """(description, quantity, unit price, VAT rate, amount incl. VAT), 1 to 3 lines."""
        lines = []
        for item in self.rng.sample(_CATALOGUE, self.rng.randint(1, 3)):
            quantity = Decimal(1 if item[4] > 1000 else self.rng.randint(1, 3))
            unit = _money(self.rng.uniform(item[3], item[4]))
            vat = Decimal(item[5])
            amount = _money(quantity * unit * (1 + vat / 100))
            lines.append((item[_LANG_INDEX[customer.language]], quantity, unit, vat, amount))
        return lines

    def _special_specs(self) -> list[_InvoiceSpec]:
        legal, plan, debit = (self.customers[k] for k in ("legal", "plan", "direct_debit"))
        specs = [self._spec(legal, "overdue_90") for _ in range(3)] + [self._spec(legal, "paid")]
        # The plan covers three overdue invoices; its first instalment part-pays the oldest.
        specs += [self._spec(plan, "partly_paid", Decimal("1180.00"), 70),
                  self._spec(plan, "overdue_45", Decimal("640.50")),
                  self._spec(plan, "overdue_20", Decimal("420.00")),
                  self._spec(plan, "paid"), self._spec(plan, "paid")]
        # Direct debit: a monthly invoice, collected on its due date.
        for months_ago in range(4, 0, -1):
            specs.append(self._spec(debit, "paid", Decimal("89.90"), 30 * months_ago))
        specs.append(self._spec(debit, "not_due", Decimal("89.90"), -12))
        return specs

    def _regular_specs(self, customers: list[Customer], special: list[_InvoiceSpec]
                       ) -> list[_InvoiceSpec]:
        """The rest of INVOICE_STATES, spread over the customers without a story."""
        remaining = dict(INVOICE_STATES)
        for spec in special:
            remaining[spec.state] -= 1
        weights = [3 if c.kind == "company" else 1 for c in customers]
        specs = []
        for state, count in remaining.items():
            for _ in range(count):
                customer = self.rng.choices(customers, weights)[0]
                specs.append(self._spec(customer, state))
        return specs

    def _create_invoices(self, specs: list[_InvoiceSpec]) -> None:
        specs.sort(key=lambda s: (s.issue, s.customer.number))
        by_number = {s.customer.number: s.customer for s in specs}  # saves a query per invoice
        for n, spec in enumerate(specs, start=1):
            language = spec.customer.language
            description = spec.lines[0][0] if spec.lines else _SERVICES[language].format(
                month=_MONTHS[language][spec.issue.month - 1], year=spec.issue.year)
            invoice, _ = upsert_invoice(clean_invoice({
                "number": f"F{spec.issue.year}-{n:05d}", "customer_number": spec.customer.number,
                "issue_date": spec.issue, "due_date": spec.due, "total_amount": spec.total,
                "description": description}), by_number)
            invoice.created_at = _at(spec.issue, 8)
            for position, (text, quantity, unit, vat, amount) in enumerate(spec.lines, start=1):
                invoice.lines.append(InvoiceLine(position=position, description=text,
                                                 quantity=quantity, unit_price=unit,
                                                 vat_rate=vat, amount=amount))
            spec.invoice = invoice

    # payments
    def _pay(self, specs: list[_InvoiceSpec]) -> None:
        payments = []
        for spec in specs:
            if spec.state == "paid":
                if spec.customer.payment_method == "direct_debit":
                    payments.append((spec.due, spec, spec.total, "direct_debit"))
                    continue
                days = self.rng.randint(2, (spec.due - spec.issue).days + 12)
                payments.append((spec.issue + timedelta(days=days), spec, spec.total, "transfer"))
            elif spec.state == "partly_paid" and spec.customer is not self.customers["plan"]:
                days = self.rng.randint(2, max((spec.due - spec.issue).days, 3))
                part = _money(spec.total * Decimal(self.rng.uniform(0.2, 0.7)))
                payments.append((spec.issue + timedelta(days=days), spec, part, "transfer"))
        payments.sort(key=lambda p: (p[0], p[1].invoice.number))
        for received_on, spec, amount, method in payments:
            invoice = spec.invoice
            self._post_payment(spec.customer, amount, min(received_on, self.today), method,
                               invoice_number=invoice.number,
                               reference=format_ogm(invoice.structured_reference))

    def _post_payment(self, customer: Customer, amount: Decimal, received_on: date, method: str,
                      **references: str) -> None:
        self.payment_count += 1
        iban = next((a.iban for a in customer.bank_accounts if a.status == "active"), None)
        post_payment(clean_payment({
            "customer_number": customer.number, "amount": amount, "received_on": received_on,
            "method": method, "external_id": f"DEMO-{self.payment_count:05d}",
            "counterparty_name": customer.name, "counterparty_iban": iban, **references}))

    # the direct debit mandate, signed online before the first collection
    def _mandate(self, specs: list[_InvoiceSpec]) -> None:
        customer = self.customers["direct_debit"]
        account = next(a for a in customer.bank_accounts if a.purpose == "direct_debit")
        signed = self.today - timedelta(days=200)
        customer.mandates.append(Mandate(
            bank_account=account, reference=f"CD-{customer.number}-0001",
            creditor_id=DEMO_CREDITOR_ID, scheme="CORE", sequence="recurrent", status="active",
            signed_on=signed, signed_place=customer.addresses[0].city,
            signature_name=customer.name, signature_ip="192.0.2.44",  # a documentation address
            signed_at=_at(signed, 19, 12), mandate_text=_MANDATE_TEXT,
            last_collection_on=max(s.due for s in specs
                                   if s.customer is customer and s.state == "paid")))

    # the payment plan
    def _payment_plan(self, specs: list[_InvoiceSpec]) -> None:
        customer = self.customers["plan"]
        invoices = sorted((s.invoice for s in specs if s.state != "paid"), key=lambda i: i.due_date)
        total = sum((i.open_amount for i in invoices), ZERO)
        count = 6
        first_due = self.today - timedelta(days=25)
        day = min(first_due.day, 28)
        request = self._request(customer, "payment_plan", "approved", 35,
                                subject="Afbetalingsplan in 6 maanden",
                                message="Ik kan het totaal niet in één keer betalen. "
                                        "Kan ik in zes maandelijkse termijnen betalen?",
                                invoices=invoices, payload={"installments": count})
        request.decided_at = request.created_at + timedelta(hours=20)
        request.decision_note = "Plan goedgekeurd: 6 maandelijkse termijnen."
        plan = PaymentPlan(customer=customer, request_id=request.id, status="active",
                           total_amount=total, installment_count=count, day_of_month=day,
                           start_date=first_due.replace(day=day), invoices=invoices)
        references = sequences.allocate(db.session, sequences.PAYMENT_REFERENCE, count)
        share = (total / count).quantize(CENT)
        for sequence, number in enumerate(references, start=1):
            amount = share if sequence < count else total - share * (count - 1)
            plan.installments.append(Installment(
                sequence=sequence, due_date=_add_months(plan.start_date, sequence - 1),
                amount=amount, paid_amount=ZERO, structured_reference=make_ogm(number),
                status="due"))
        db.session.add(plan)
        first = plan.installments[0]
        # Paid with the instalment's own reference: allocated to the oldest plan invoice.
        self._post_payment(customer, first.amount, first.due_date - timedelta(days=1), "transfer",
                           reference=format_ogm(first.structured_reference))
        first.paid_amount, first.status = first.amount, "paid"

    # requests
    def _request(self, customer: Customer, kind: str, status: str, days_ago: int,
                 invoices: list[Invoice] = (), **fields) -> CustomerRequest:
        created = _at(self.today - timedelta(days=days_ago), 10 + days_ago % 7, 15)
        request = CustomerRequest(customer=customer, kind=kind, status=status, channel="portal",
                                  created_at=created, updated_at=created,
                                  sla_due_at=created + timedelta(hours=_SLA_HOURS[kind]),
                                  invoices=list(invoices), **fields)
        db.session.add(request)
        db.session.flush()
        self.summary.requests += 1
        return request

    def _disputes(self, specs: list[_InvoiceSpec]) -> None:
        for n, spec in enumerate(specs):
            invoice, customer = spec.invoice, spec.customer
            reason = list(_DISPUTE_TEXTS)[n % len(_DISPUTE_TEXTS)]
            amount = invoice.total_amount if n % 3 else _money(invoice.total_amount / 2)
            text = _DISPUTE_TEXTS[reason][customer.language]
            days_ago = min(n * 2, max((self.today - invoice.issue_date).days, 0))
            request = self._request(
                customer, "dispute", "in_review" if n % 2 else "received", days_ago,
                invoices=[invoice], subject=invoice.number, message=text,
                payload={"invoice_number": invoice.number, "reason": reason,
                         "amount": str(amount)})
            db.session.add(Dispute(customer=customer, invoice=invoice, request_id=request.id,
                                   amount=amount, reason=reason, text=text, status="open",
                                   created_at=request.created_at))
            invoice.disputed, invoice.disputed_amount = True, amount

    def _other_requests(self, specs: list[_InvoiceSpec]) -> None:
        """Deferral requests and questions in different statuses, in the customer's language."""
        def pick(state: str, language: str) -> _InvoiceSpec:
            """An invoice of a customer without a story, in that language when there is one."""
            candidates = [s for s in specs
                          if s.state == state and s.customer not in self.customers.values()]
            return next((s for s in candidates if s.customer.language == language), candidates[0])

        def deferral(spec: _InvoiceSpec, status: str, days_ago: int, new_due: date,
                     **fields: object) -> CustomerRequest:
            return self._request(
                spec.customer, "deferral", status, days_ago, invoices=[spec.invoice],
                subject=spec.invoice.number, message=_DEFERRAL_TEXT[spec.customer.language],
                payload={"invoice_number": spec.invoice.number,
                         "new_due_date": new_due.isoformat()}, **fields)

        soon, late = pick("due_soon", "fr"), pick("overdue_5", "nl")
        later = pick("overdue_20", "en")
        deferral(soon, "received", 0, soon.due + timedelta(days=14))
        # Waiting longer than its service level: shows up as late in the request queue.
        deferral(late, "in_review", 4, self.today + timedelta(days=30),
                 referral_reason=_REFERRAL_TEXT[late.customer.language])
        new_due = self.today + timedelta(days=21)
        approved = deferral(later, "approved", 6, new_due)
        approved.decided_at = approved.created_at + timedelta(hours=3)
        db.session.add(Deferral(customer=later.customer, invoice=later.invoice,
                                request_id=approved.id, original_due_date=later.due,
                                new_due_date=new_due, status="active"))
        asker = next(s.customer for s in specs
                     if s.customer.language == "fr" and s.customer.kind == "company")
        self._request(asker, "question", "received", 1, subject="Copie de facture",
                      message="Pouvez-vous nous renvoyer la facture au format PDF avec notre "
                              "numéro de commande ?")
        closed = self._request(pick("paid", "en").customer, "question", "closed", 30,
                               subject="Payment by credit card?",
                               message="Can I pay my invoices by credit card?")
        closed.decided_at = closed.created_at + timedelta(hours=26)
        closed.decision_note = "Yes: the portal offers online payment on every open invoice."
        closed.satisfaction_score = 5


# The debtor signs the mandate in their language (EPC wording, Dutch).
_MANDATE_TEXT = (
    "Door ondertekening van dit mandaatformulier machtigt u CreditDesk Demo een opdracht te "
    "sturen naar uw bank om een bedrag van uw rekening af te schrijven en uw bank om een bedrag "
    "van uw rekening af te schrijven overeenkomstig de opdracht van CreditDesk Demo.")
_DEFERRAL_TEXT = {
    "fr": "Pourriez-vous m'accorder quelques semaines de plus ? Mon salaire arrive le 25.",
    "nl": "Mag ik deze factuur wat later betalen? Mijn loon komt pas op de 25e.",
    "en": "Could I have a few more weeks for this one, please? I get paid on the 25th.",
}
_REFERRAL_TEXT = {
    "fr": "Le montant dépasse la limite d'approbation automatique.",
    "nl": "Het bedrag is hoger dan de grens voor automatische goedkeuring.",
    "en": "The amount is above the limit for automatic approval.",
}


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)
