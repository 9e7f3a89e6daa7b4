"""Back office speed of the 360° page, the search box and the aging report.

    createdb -h 127.0.0.1 -U postgres -T bench bench_360      # a copy: this script writes to it
    python -m bench.customer360 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_360

Against a copy of the ``bench.generate`` data (100k customers / 1M invoices), this

1. gives one customer 50 invoices and 200 timeline events (payments, messages, notes, calls,
   requests, portal log-ins; rows tagged ``bench360`` and reused on the next run);
2. signs a staff user in and requests, through the real app (Flask test client, whole FAB page
   rendered): the 360° page, the search box with each kind of key (customer number, invoice
   number, OGM typed two ways, RF, e-mail, a name, a phone, the IBAN typed with spaces; a bank
   account is added to the customer if it has none), and the aging report;
3. records the SQL each of those pages ran and replays exactly those statements on a bare
   psycopg connection: the "bare SQL" baseline of the same run;
4. prints p50/p95 per page next to its bare SQL and the target (360 p95 <= 150 ms, search
   <= 100 ms, aging <= 2 s).
"""
from __future__ import annotations

import secrets
import statistics
import time
from datetime import timedelta
from decimal import Decimal

import click

TARGETS_MS = {"360 page": 150.0, "search": 100.0, "aging report": 2000.0}
TAG = "bench360"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- the chosen customer ----------------------------------------------------------------------

def prepare_customer():
    """The customer with the most invoices, topped up to 50 invoices and 200 timeline events."""
    from sqlalchemy import func, select

    from app.core.models import utcnow
    from app.core.portal_access import PortalAccess
    from app.customers.models import Customer, CustomerNote
    from app.extensions import db
    from app.invoices.models import Invoice
    from app.invoices.services import clean_invoice, upsert_invoice
    from app.notifications.models import Message
    from app.payments.models import Payment
    from app.requests.models import CustomerRequest

    customer = db.session.scalar(select(Customer).where(Customer.number == f"{TAG}-1"))
    if customer is None:
        cid = db.session.scalar(select(Invoice.customer_id).group_by(Invoice.customer_id)
                                .order_by(func.count().desc()).limit(1))
        customer = db.session.get(Customer, cid)
        customer.number = f"{TAG}-1"
    have = db.session.scalar(select(func.count()).where(Invoice.customer_id == customer.id))
    today = utcnow().date()
    for n in range(max(0, 50 - have)):
        issue = today - timedelta(days=20 * n + 5)
        upsert_invoice(clean_invoice({
            "number": f"{TAG}-{customer.id}-{n}", "customer_number": customer.number,
            "issue_date": issue.isoformat(), "due_date": (issue + timedelta(days=30)).isoformat(),
            "total_amount": "123.45"}))
    db.session.flush()
    events = {"payments": 30, "messages": 60, "notes": 40, "requests": 10, "logins": 10}
    tagged = db.session.scalar(select(func.count()).where(
        CustomerNote.customer_id == customer.id, CustomerNote.user_name == TAG))
    if not tagged:
        now = utcnow()
        for n in range(events["payments"]):
            db.session.add(Payment(customer_id=customer.id, received_on=today - timedelta(days=n * 7),
                                   amount=Decimal("50.00"), status="unmatched",
                                   unallocated_amount=Decimal("50.00")))
        for n in range(events["messages"]):
            db.session.add(Message(customer_id=customer.id, channel="email", recipient="b@x.test",
                                   language="fr", event="reminder", subject=f"Rappel {n}",
                                   body_text=".", status="failed" if n % 10 == 0 else "sent",
                                   idempotency_key=f"{TAG}-{customer.id}-{n}-{secrets.token_hex(4)}",
                                   created_at=now - timedelta(days=n * 3)))
        for n in range(events["notes"]):
            db.session.add(CustomerNote(customer_id=customer.id, kind="call" if n % 2 else "note",
                                        text=f"Bench note {n}", user_name=TAG,
                                        call_direction="outbound" if n % 2 else None,
                                        call_outcome="reached" if n % 2 else None,
                                        created_at=now - timedelta(days=n * 4)))
        for n in range(events["requests"]):
            db.session.add(CustomerRequest(customer_id=customer.id, kind="question",
                                           status="approved", subject=f"Question {n}",
                                           decided_at=now - timedelta(days=n * 9),
                                           created_at=now - timedelta(days=n * 9 + 1)))
        for n in range(events["logins"]):
            db.session.add(PortalAccess(customer_id=customer.id, kind="magic_link",
                                        token_hash=secrets.token_hex(32), expires_at=now,
                                        used_at=now - timedelta(days=n * 11)))
    db.session.commit()
    return customer


BENCH_IBAN = "BE68539007547034"  # a valid Belgian IBAN, given to the bench customer


def prepare_bank_account(customer) -> str:
    """The customer's IBAN for the search path (a bank account is added if it has none)."""
    from sqlalchemy import select

    from app.customers.models import BankAccount
    from app.extensions import db

    iban = db.session.scalar(select(BankAccount.iban).where(
        BankAccount.customer_id == customer.id).order_by(BankAccount.id).limit(1))
    if iban is None:
        db.session.add(BankAccount(customer_id=customer.id, iban=BENCH_IBAN, holder=TAG,
                                   purpose="known", status="active"))
        db.session.commit()
        iban = BENCH_IBAN
    return iban.replace(" ", "").upper()


def staff_client(app):
    """A test client signed in as a bench Admin (created once)."""
    import re

    sm = app.appbuilder.sm
    password = secrets.token_urlsafe(16)
    user = sm.find_user(username=f"{TAG}_admin")
    if user is None:
        user = sm.add_user(f"{TAG}_admin", "Bench", "Admin", f"{TAG}@example.test",
                           sm.find_role("Admin"), password=password)
    else:
        sm.reset_password(user.id, password)
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login/", data={"username": user.username, "password": password,
                                            "csrf_token": token})
    if response.status_code not in (302, 303):
        raise click.ClickException("could not sign the bench user in")
    return client


# --- measuring ---------------------------------------------------------------------------------

class Recorder:
    """Collects the SQL statements (with parameters) the app runs while recording."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.statements: list[tuple[str, object]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.statements.append((statement, parameters))


def timed_pages(client, paths: list[str], rounds: int) -> list[float]:
    for path in paths:  # warm-up
        # The search answers 302 when one exact match opens the 360° page: that is its answer.
        if client.get(path).status_code not in (200, 302):
            raise click.ClickException(f"{path}: not answered")
    times = []
    for _ in range(rounds):
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code not in (200, 302):
                raise click.ClickException(f"{path}: HTTP {response.status_code}")
    return times


def timed_sql(url: str, statements: list[tuple[str, object]], rounds: int) -> list[float]:
    """Replay one page's statements on a bare psycopg connection, per page (summed)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    times = []
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        for statement, params in statements:  # warm-up
            cur.execute(statement, params)
            cur.fetchall() if cur.description else None
        for _ in range(rounds):
            started = time.perf_counter()
            for statement, params in statements:
                cur.execute(statement, params)
                if cur.description:
                    cur.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


def record(app, recorder: Recorder, client, path: str) -> list[tuple[str, object]]:
    recorder.statements, recorder.on = [], True
    try:
        client.get(path)
    finally:
        recorder.on = False
    # Only reads: the session bookkeeping of FAB (user lookups) is part of the page, kept.
    return [(s, p) for s, p in recorder.statements if s.lstrip().upper().startswith("SELECT")]


@click.command()
@click.option("--database-url", "url", required=True, help="A COPY of the bench database.")
@click.option("--rounds", default=40, show_default=True, type=click.IntRange(5, 1000))
@click.option("--aging-rounds", default=5, show_default=True, type=click.IntRange(1, 50))
def main(url: str, rounds: int, aging_rounds: int) -> None:
    """Measure the 360° page, the search box and the aging report against their bare SQL."""
    from app import create_app
    from app.extensions import db
    from app.invoices.references import format_ogm, format_rf
    from app.setup_cli import prepare_database
    from config import Config

    if url.rstrip("/").endswith("/bench"):
        raise click.ClickException("use a copy of the bench database (it is written to)")
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, JOBS_MODE="sync", REDIS_URL="",
                     SEED_DEMO_DATA=False, WTF_CSRF_ENABLED=True, FAB_UPDATE_PERMS=False)
    with app.app_context():
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        prepare_database()
        customer = prepare_customer()
        iban = prepare_bank_account(customer)
        from sqlalchemy import func, select

        from app.customers.timeline import customer_timeline
        from app.invoices.models import Invoice

        invoice = db.session.scalar(select(Invoice).where(Invoice.customer_id == customer.id)
                                    .order_by(Invoice.id).limit(1))
        n_invoices = db.session.scalar(select(func.count()).where(
            Invoice.customer_id == customer.id))
        n_events = len(customer_timeline(customer.id, limit=500).events)
        click.echo(f"customer {customer.number}: {n_invoices} invoices, {n_events} timeline events")
        client = staff_client(app)
        recorder = Recorder(db.engine)
        ogm = invoice.structured_reference
        pages = {
            "360 page": [f"/customer360/{customer.id}"],
            "search": [f"/customer360/search?q={q}" for q in (
                customer.number, invoice.number, format_ogm(ogm).replace("+", "%2B"),
                f"{ogm[:3]}%20{ogm[3:7]}%20{ogm[7:]}",
                format_rf(invoice.rf_reference).replace(" ", "%20"),
                (customer.email or "x@y.test"), "lambert", "%2B32470000123",
                # the IBAN typed the way it is printed: groups of four, with spaces
                "%20".join(iban[i:i + 4] for i in range(0, len(iban), 4)))],
            "aging report": ["/insights/aging"],
        }
        lines = [f"{'page':<14} {'':>9} {'p50 ms':>9} {'p95 ms':>9} {'n':>5}"]
        verdicts = []
        for name, paths in pages.items():
            n = aging_rounds if name == "aging report" else rounds
            page_ms = timed_pages(client, paths, n)
            sql_ms: list[float] = []
            for path in paths:
                statements = record(app, recorder, client, path)
                sql_ms.extend(timed_sql(url, statements, n))
            for label, values in (("app", page_ms), ("bare SQL", sql_ms)):
                lines.append(f"{name:<14} {label:>9} {statistics.median(values):9.1f} "
                             f"{percentile(values, .95):9.1f} {len(values):5d}")
            if len(paths) > 1:  # which key costs what (the rounds interleave the paths)
                for i, path in enumerate(paths):
                    mine = page_ms[i::len(paths)]
                    key = path.split("q=", 1)[-1][:28]
                    lines.append(f"  {key:<28} {statistics.median(mine):9.1f} "
                                 f"{percentile(mine, .95):9.1f} {len(mine):5d}")
            p95 = percentile(page_ms, .95)
            target = TARGETS_MS[name]
            verdicts.append(f"{name}: p95 {p95:.1f} ms "
                            f"({'meets' if p95 <= target else 'MISSES'} {target:.0f} ms)")
        db.engine.dispose()
    click.echo("")
    for line in lines + verdicts:
        click.echo(line)


if __name__ == "__main__":
    main()
