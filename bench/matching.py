"""Statement import and matching at scale: a 100,000-entry camt.053 against 1M invoices.

    createdb -T bench bench_matching          # a copy of the bench database (bench/generate.py)
    python -m bench.matching --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_matching

Builds a camt.053.001.08 file from the database's open invoices (seeded): 70 % of the entries
carry the invoice's OGM as a structured reference (SCOR/BBA), 20 % a reference typed in the
free text (+++..+++, ***..***, spaces, slashes, an RF reference with spaces, or the invoice
number), 10 % nothing usable; one structured entry in ten pays part of its invoice. Then, in
the same run:

- baseline: parsing alone (parse_statement_file: safe XML, every entry into Decimal amounts);
- the import as the product runs it (app.payments.incoming.importing.import_statement): de-duplication,
  matching set-wise, booking of the confident matches with every consequence (allocations,
  open amounts, balances, promises, thank-you and "account settled" messages in the outbox),
  everything else left for a person; one transaction.

It prints entries/s for both and the share matched automatically, checks a sample of invoices,
then removes everything it added and restores the invoices and customers it changed, so that it
can run again on the same database. Message delivery is not part of the import (messages stay
queued; the sweep would send them) and is switched off here.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import click
from sqlalchemy import text

from app.extensions import db
from app.invoices.references import format_ogm, format_rf

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_matching"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
# The company's own account (a statement of any other account waits for a person).
ACCOUNT = "BE04068246137931"
TABLES_ADDED = ("allocation", "installment_payment", "payment", "statement_line",
                "bank_statement", "message", "audit_event")


@dataclass
class Plan:
    entries: list[str]
    invoice_ids: list[int]
    structured: int
    free_text: int
    without: int
    partial: int
    total: Decimal = Decimal(0)  # what the entries add up to: closing - opening balance


def _iban(n: int) -> str:
    """A valid Belgian IBAN per customer (bank code 539), so a customer always pays from one."""
    base = f"539{n % 10**7:07d}"
    check = int(base) % 97 or 97
    bban = f"{base}{check:02d}"
    numeric = int(f"{bban}111400")  # BE00 -> 1114 00
    return f"BE{98 - numeric % 97:02d}{bban}"


def plan_entries(invoices: list[tuple], count: int, seed: int) -> Plan:
    rng = random.Random(seed)
    structured, free_text = int(count * 0.7), int(count * 0.2)
    without = count - structured - free_text
    chosen = rng.sample(invoices, structured + free_text)
    today = date.today()
    entries, partial = [], 0
    for n, (invoice_id, number, ogm, rf, open_amount, customer_id) in enumerate(chosen):
        amount = open_amount
        if n < structured:
            if n % 10 == 9 and open_amount > Decimal("2.00"):
                amount = (open_amount / 2).quantize(Decimal("0.01"))
                partial += 1
            remittance = (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry>"
                          f"<Issr>BBA</Issr></Tp><Ref>{ogm}</Ref></CdtrRefInf></Strd>")
        else:
            style = n % 6
            shown = format_ogm(ogm)
            typed = [f"Facture {shown}", f"factuur {shown.replace('+', '*')}",
                     f"betaling {ogm[:3]} {ogm[3:7]} {ogm[7:]}",
                     f"paiement {ogm[:3]}/{ogm[3:7]}/{ogm[7:]} merci",
                     f"ref {format_rf(rf)}", f"Invoice {number}"][style]
            remittance = f"<Ustrd>{typed}</Ustrd>"
        entries.append(_entry(n, amount, today, customer_id, remittance))
    for k in range(without):
        n = structured + free_text + k
        amount = Decimal(rng.randrange(500, 90000)) / 100
        entries.append(_entry(n, amount, today, 10**6 + k,
                              f"<Ustrd>{rng.choice(['Merci', 'Paiement', 'Betaling', 'Voorschot'])}"
                              "</Ustrd>"))
    rng.shuffle(entries)
    total = sum((Decimal(entry.split('<Amt Ccy="EUR">', 1)[1].split("<", 1)[0])
                 for entry in entries), Decimal(0))
    return Plan(entries, [row[0] for row in chosen], structured, free_text, without, partial,
                total)


def _entry(n: int, amount: Decimal, day: date, customer_id: int, remittance: str) -> str:
    booked = day.isoformat()
    return (f'<Ntry><NtryRef>{n}</NtryRef><Amt Ccy="EUR">{amount}</Amt>'
            f"<CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{booked}</Dt>"
            f"</BookgDt><ValDt><Dt>{booked}</Dt></ValDt><AcctSvcrRef>BENCH{n:09d}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly>"
            "</Domn></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId>"
            f'</Refs><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><RltdPties><Dbtr>'
            f"<Pty><Nm>Customer {customer_id}</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>"
            f"{_iban(customer_id)}</IBAN></Id></DbtrAcct></RltdPties><RmtInf>{remittance}"
            "</RmtInf></TxDtls></NtryDtls></Ntry>")


def build_file(plan: Plan, account: str = ACCOUNT) -> bytes:
    """The statement, with opening and closing balances that add up (they are checked)."""
    today = date.today().isoformat()
    opening = Decimal("15000.00")
    balances = "".join(
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{amount}</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{today}</Dt></Dt></Bal>"
        for code, amount in (("OPBD", opening), ("CLBD", opening + plan.total)))
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<Document xmlns="{NS}"><BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId>'
            f"<CreDtTm>{today}T18:00:00</CreDtTm></GrpHdr><Stmt><Id>BENCH-{time.time_ns()}</Id>"
            f"<CreDtTm>{today}T18:00:00</CreDtTm><Acct><Id><IBAN>{account}</IBAN></Id></Acct>"
            + balances + "".join(plan.entries) + "</Stmt></BkToCstmrStmt></Document>").encode()


def open_invoices(limit: int) -> list[tuple]:
    rows = db.session.execute(text(
        "SELECT id, number, structured_reference, rf_reference, open_amount, customer_id "
        "FROM invoice WHERE status IN ('open', 'partially_paid') AND open_amount > 0 "
        "ORDER BY id LIMIT :limit"), {"limit": limit}).all()
    return [tuple(row) for row in rows]


def snapshot(invoice_ids: list[int]) -> dict[str, int]:
    """Copy what the import may change (the chosen invoices' customers: their invoices,
    balances, promises, plans) and note the last id of every table it adds to."""
    ids = ",".join(map(str, invoice_ids))
    db.session.execute(text("DROP TABLE IF EXISTS bench_customers, bench_invoices, "
                            "bench_balances, bench_deferrals, bench_installments"))
    db.session.execute(text(f"CREATE TABLE bench_customers AS SELECT DISTINCT customer_id AS id "
                            f"FROM invoice WHERE id IN ({ids})"))
    db.session.execute(text(
        "CREATE TABLE bench_invoices AS SELECT i.id, i.open_amount, i.status, i.paid_on, "
        "i.updated_at FROM invoice i JOIN bench_customers c ON c.id = i.customer_id"))
    db.session.execute(text("CREATE TABLE bench_balances AS SELECT c.id, c.balance, "
                            "c.updated_at FROM customer c JOIN bench_customers b ON b.id = c.id"))
    db.session.execute(text("CREATE TABLE bench_deferrals AS SELECT d.id, d.status FROM deferral d "
                            "JOIN bench_customers b ON b.id = d.customer_id"))
    db.session.execute(text(
        "CREATE TABLE bench_installments AS SELECT i.id, i.paid_amount, i.status FROM installment i"
        " JOIN payment_plan p ON p.id = i.plan_id JOIN bench_customers b ON b.id = p.customer_id"))
    marks = {table: db.session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))
             for table in TABLES_ADDED}
    db.session.commit()
    return marks


def restore(marks: dict[str, int]) -> None:
    db.session.rollback()
    # Lines go last, and the payments pointing at them first: PostgreSQL checks every foreign
    # key of each deleted row.
    for table in ("allocation", "installment_payment", "audit_event"):
        db.session.execute(text(f"DELETE FROM {table} WHERE id > :mark"), {"mark": marks[table]})
    db.session.execute(text("DELETE FROM message WHERE id > :mark"), {"mark": marks["message"]})
    db.session.execute(text("DELETE FROM payment WHERE id > :mark"), {"mark": marks["payment"]})
    db.session.execute(text("DELETE FROM statement_line WHERE id > :mark"),
                       {"mark": marks["statement_line"]})
    db.session.execute(text("DELETE FROM bank_statement WHERE id > :mark"),
                       {"mark": marks["bank_statement"]})
    db.session.execute(text(
        "UPDATE invoice i SET open_amount = b.open_amount, status = b.status, paid_on = b.paid_on,"
        " updated_at = b.updated_at FROM bench_invoices b WHERE b.id = i.id AND "
        "(i.open_amount, i.status, i.paid_on, i.updated_at) IS DISTINCT FROM "
        "(b.open_amount, b.status, b.paid_on, b.updated_at)"))
    db.session.execute(text("UPDATE customer c SET balance = b.balance, updated_at = b.updated_at "
                            "FROM bench_balances b WHERE b.id = c.id"))
    db.session.execute(text("UPDATE deferral d SET status = b.status FROM bench_deferrals b "
                            "WHERE b.id = d.id"))
    db.session.execute(text("UPDATE installment i SET paid_amount = b.paid_amount, "
                            "status = b.status FROM bench_installments b WHERE b.id = i.id"))
    db.session.execute(text("DROP TABLE bench_customers, bench_invoices, bench_balances, "
                            "bench_deferrals, bench_installments"))
    db.session.commit()
    # The import and this restore leave a dead version of every row they changed or removed.
    # Autovacuum clears them on a normal server; where it is off (the bench machine), each run
    # would start on a more bloated table than the last (slower updates: no room on the page
    # for an in-place HOT update). Outside the timings.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) invoice, customer, deferral, installment, "
                                + ", ".join(TABLES_ADDED)))


@click.command()
@click.option("--database-url", "url", default=lambda: os.environ.get("BENCH_MATCHING_URL",
                                                                       DEFAULT_URL),
              show_default=DEFAULT_URL)
@click.option("--entries", type=click.IntRange(min=10), default=100_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--messages/--no-messages", default=True, show_default=True,
              help="Install the shipped message templates so that thank-you and 'account "
                   "settled' messages are really rendered and queued.")
@click.option("--messages-job", is_flag=True,
              help="Also run (and time) the job that queues the thank-you messages of a big "
                   "import.")
@click.option("--keep", is_flag=True, help="Leave the imported statement in the database.")
def main(url: str, entries: int, seed: int, messages: bool, messages_job: bool,
         keep: bool) -> None:
    """Import a generated camt.053 and print entries/s next to parsing alone."""
    from app import create_app
    from app.core.settings import get_setting
    from app.notifications import outbox
    from app.payments.incoming import importing
    from app.payments.incoming.checks import check_balances
    from app.payments.incoming.importing import import_statement
    from app.payments.incoming.statements import parse_statement_file
    from app.payments.jobs import send_payment_messages
    from app.setup_cli import prepare_database
    from config import Config

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SEED_DEMO_DATA=False, JOBS_MODE="sync")
    outbox.enqueue_delivery = lambda ids: None  # delivery is not part of the import
    handed_over: list[list[int]] = []
    # A big file's thank-you messages are queued by a job right after the commit: here the job
    # is run (and timed) on its own after the import, when --messages-job is given.
    importing._hand_over_messages = handed_over.append
    with app.app_context():
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        prepare_database()
        templates = "not installed"
        if messages:
            try:
                from app.notifications.defaults import install_defaults

                install_defaults()
                templates = "installed"
            except ImportError:
                templates = "unavailable"
        invoice_count = db.session.scalar(text("SELECT count(*) FROM invoice"))
        started = time.perf_counter()
        plan = plan_entries(open_invoices(10**7), entries, seed)
        data = build_file(plan, str(get_setting("company.iban") or ACCOUNT).replace(" ", ""))
        click.echo(f"{invoice_count:,} invoices; file: {len(plan.entries):,} entries "
                   f"({plan.structured:,} structured reference, {plan.free_text:,} reference in "
                   f"free text, {plan.without:,} without; {plan.partial:,} partial payments), "
                   f"{len(data) / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s; "
                   f"message templates {templates}")
        marks = snapshot(plan.invoice_ids)
        try:
            started = time.perf_counter()
            parsed = parse_statement_file(data)
            parse_seconds = time.perf_counter() - started
            assert len(parsed.entries) == len(plan.entries)
            # The balance check (opening + entries = closing, per statement), on its own.
            started = time.perf_counter()
            checks = check_balances(parsed)
            balance_seconds = time.perf_counter() - started
            assert [check.status for check in checks] == ["ok"]
            del parsed, checks
            report = import_statement(data, "bench.xml", None, max_bytes=len(data))
            if not report.ok:
                raise click.ClickException(report.error)
            import_seconds = report.seconds
            check_sample(plan)
            queued = db.session.scalar(text("SELECT count(*) FROM message WHERE id > :m"),
                                       {"m": marks["message"]})
            job_seconds = None
            if messages_job and handed_over:
                started = time.perf_counter()
                for statement_ids in handed_over:
                    send_payment_messages(statement_ids)
                job_seconds = time.perf_counter() - started
                queued_by_job = db.session.scalar(
                    text("SELECT count(*) FROM message WHERE id > :m"),
                    {"m": marks["message"]}) - queued
        finally:
            if not keep:
                started = time.perf_counter()
                restore(marks)
                click.echo(f"(cleanup: removed what the import added and restored the invoices "
                           f"and customers in {time.perf_counter() - started:.1f} s)")
        n = report.entries
        click.echo("")
        click.echo(f"{'step':<34}{'entries':>10}{'seconds':>10}{'entries/s':>12}")
        click.echo(f"{'parse only (baseline)':<34}{n:>10,}{parse_seconds:>10.2f}"
                   f"{n / parse_seconds:>12,.0f}")
        click.echo(f"{'import: parse+match+book+commit':<34}{n:>10,}{import_seconds:>10.2f}"
                   f"{n / import_seconds:>12,.0f}")
        click.echo(f"import / parse: {import_seconds / parse_seconds:.1f}x")
        share = 100 * balance_seconds / parse_seconds
        click.echo(f"balance check: {balance_seconds * 1000:.1f} ms = {share:.2f} % of the parse "
                   f"time (target <= 5 %): {'OK' if share <= 5 else 'OVER'}")
        click.echo(f"matched automatically: {report.matched.count:,} of {n:,} "
                   f"({100 * report.matched.count / n:.1f} %), "
                   f"suggested {report.suggested.count:,}, unmatched {report.unmatched.count:,}")
        click.echo(f"thank-you messages: {report.messages} "
                   f"({queued:,} queued during the import)")
        if job_seconds is not None:
            click.echo(f"message job after the import: {queued_by_job:,} messages in "
                       f"{job_seconds:.1f} s ({queued_by_job / job_seconds:,.0f}/s)")
        verdict = "OK" if import_seconds <= 60 else "OVER"
        click.echo(f"target: {n:,} entries in <= 60 s on {db.engine.dialect.name}: {verdict}")
        db.engine.dispose()


def check_sample(plan: Plan) -> None:
    """A few invoices the file paid in full are paid, with an allocation of their amount."""
    rows = db.session.execute(text(
        "SELECT i.id, i.status, i.open_amount, coalesce(sum(a.amount), 0) FROM invoice i "
        "LEFT JOIN allocation a ON a.invoice_id = i.id AND a.reversed_at IS NULL "
        "WHERE i.id = ANY(:ids) GROUP BY i.id"), {"ids": plan.invoice_ids[:200]}).all()
    paid = [row for row in rows if row[1] == "paid"]
    if len(paid) < len(rows) * 0.7:
        raise click.ClickException(f"only {len(paid)} of {len(rows)} sampled invoices are paid")
    for _id, _status, open_amount, allocated in paid:
        if open_amount != 0 or allocated <= 0:
            raise click.ClickException(f"invoice {_id} paid without an allocation")


if __name__ == "__main__":
    main()
