"""The payer's IBAN of statement lines and payments is encrypted at rest (GDPR): ciphertext in
the database, plain on the staff screens, matched and searched through its keyed hash, and
cleared by the retention purge. Also the migration that encrypts the rows of before."""
from __future__ import annotations

import importlib.util
from decimal import Decimal as D
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, select, text

from app.core.crypto import FERNET_PREFIX, iban_hash
from app.core.settings import set_setting
from app.customers.models import BankAccount
from app.extensions import db
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.models import Payment
from tests.helpers import csrf_token
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import fresh

IBAN = "BE71096123456769"
MIGRATION = (Path(__file__).resolve().parents[3] / "migrations" / "versions"
             / "payments_0003_counterparty_iban_crypto.py")


def _raw(sql: str, **params) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(text(sql), params)]


def _import(*entries: Entry, statement_id: str = "STMT-1"):
    report = import_statement(camt053(list(entries), statement_id=statement_id),
                              f"{statement_id}.xml")
    assert report.ok, report.error
    return report


def _entry(amount, n, iban=IBAN, **tx) -> Entry:
    return Entry(str(amount), ref=f"IBAN{n}", txs=[Tx(iban=iban, **tx)])


@pytest.fixture
def clerk(staff_client):
    return staff_client("AR clerk")


def test_an_imported_statement_stores_no_plain_iban(invoices):
    _import(_entry("121.00", 1, strd=[(invoices[0].structured_reference, "SCOR", "BBA")]),
            _entry("33.00", 2, ustrd=["?"]))
    digest = iban_hash(IBAN)
    for table in ("statement_line", "payment"):
        rows = _raw(f"SELECT counterparty_iban, iban_hash FROM {table}")
        assert len(rows) == 2, table
        for stored, stored_hash in rows:
            assert stored != IBAN and IBAN not in stored and stored.startswith(FERNET_PREFIX)
            assert stored_hash == digest
        assert len({stored for stored, _h in rows}) == 2  # a new IV each time
    db.session.expire_all()
    assert set(db.session.scalars(select(StatementLine.counterparty_iban))) == {IBAN}
    assert set(db.session.scalars(select(Payment.counterparty_iban))) == {IBAN}


def test_the_staff_screens_still_show_the_iban_and_search_it_by_hash(clerk, invoices):
    _import(_entry("33.00", 1, ustrd=["?"]), _entry("44.00", 2, iban="NL91ABNA0417164300",
                                                    ustrd=["?"]))
    line = db.session.scalar(select(StatementLine).where(StatementLine.amount == D("33.00")))
    payment = db.session.scalar(select(Payment).where(Payment.statement_line_id == line.id))
    for url in (f"/matching/line/{line.id}", "/matching/", f"/statementlineview/show/{line.id}",
                f"/paymentview/show/{payment.id}"):
        page = clerk.get(url)
        assert page.status_code == 200, url
        assert IBAN in page.get_data(as_text=True), url
    typed = "be71 0961 2345 6769"  # spaces and lower case: the same account
    for url in (f"/statementlineview/list/?_flt_0_counterparty_iban={typed}",
                f"/paymentview/list/?_flt_0_counterparty_iban={typed}"):
        page = clerk.get(url)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, url
        assert "33.00" in html and "44.00" not in html, url


def test_a_known_account_with_the_amount_still_books_the_payment(customer, invoices):
    db.session.add(BankAccount(customer=customer, iban="be71 0961 2345 6769", status="active"))
    db.session.commit()
    set_setting("payments.auto_match_confidence", "0.80")
    report = _import(_entry("250.00", 1, ustrd=["merci"]))
    assert report.matched.count == 1
    line = db.session.scalar(select(StatementLine))
    assert (line.status, line.match_rule, line.customer_id) == ("matched", "iban_and_amount",
                                                                customer.id)
    assert fresh(invoices[1]).status == "paid"
    payment = db.session.scalar(select(Payment))
    assert payment.customer_id == customer.id and payment.iban_hash == iban_hash(IBAN)


def test_an_iban_paid_from_before_is_recognised_by_its_hash(customer, invoices):
    set_setting("payments.auto_match_confidence", "0.80")
    _import(_entry("121.00", 1, strd=[(invoices[0].structured_reference, "SCOR", "BBA")]))
    report = _import(_entry("250.00", 2, ustrd=["merci"]), statement_id="STMT-2")
    assert report.matched.count == 1
    assert fresh(invoices[1]).status == "paid"


def test_a_payment_made_in_the_queue_is_encrypted_too(clerk, customer, invoices):
    _import(_entry("20.00", 1, ustrd=[f"acompte {invoices[1].number}"]))
    line = db.session.scalar(select(StatementLine).where(StatementLine.status == "suggested"))
    db.session.execute(text("DELETE FROM payment"))  # as before the import kept a row per line
    db.session.commit()
    page = clerk.get("/matching/").get_data(as_text=True)
    response = clerk.post(f"/matching/line/{line.id}/accept",
                          data={"csrf_token": csrf_token(page), "next": "/matching/"})
    assert response.status_code == 302
    [(stored, stored_hash)] = _raw("SELECT counterparty_iban, iban_hash FROM payment")
    assert stored.startswith(FERNET_PREFIX) and stored_hash == iban_hash(IBAN)
    assert fresh(line).status == "matched"


def test_the_retention_purge_clears_the_payer_iban(app, tmp_path):
    from app.retention import purge
    from app.retention.rules import install_defaults
    from tests.retention.conftest import LONG_AGO, rich_customer

    install_defaults()
    app.config["RETENTION_JOURNAL"] = str(tmp_path / "journal.jsonl")
    try:
        customer = rich_customer()
        statement = BankStatement(format="camt.053.001.08", file_sha256="f" * 64)
        db.session.add(StatementLine(
            statement=statement, customer_id=customer.id, booking_date=LONG_AGO,
            amount=D("121.00"), counterparty_name="Marie Dupont", counterparty_iban=IBAN,
            dedup_key="k" * 64, kind="payment", status="matched"))
        db.session.commit()
        assert _raw("SELECT iban_hash FROM statement_line") == [(iban_hash(IBAN),)]
        purge.execute(triggered_by="test")
    finally:
        app.config.pop("RETENTION_JOURNAL", None)
    for table in ("payment", "statement_line"):
        assert _raw(f"SELECT counterparty_iban, iban_hash FROM {table} "
                    "WHERE customer_id = :id", id=customer.id) == [(None, None)], table


def _migration():
    spec = importlib.util.spec_from_file_location("payments_0003_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_encrypts_existing_rows_in_batches_and_downgrade_decrypts(tmp_path,
                                                                              monkeypatch):
    """On a scratch database shaped as before (payments_0002): plain IBANs become ciphertext
    and hash, a re-run changes nothing, the downgrade gives the plain IBANs back."""
    migration = _migration()
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches with five rows
    engine = create_engine(f"sqlite:///{tmp_path / 'before.db'}")
    plain = {1: IBAN, 2: "NL91ABNA0417164300", 3: None, 4: IBAN, 5: "BE68 5390 0754 7034"}
    with engine.begin() as connection:
        for table in ("payment", "statement_line"):
            connection.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, "
                                    "counterparty_iban VARCHAR(34))"))
            connection.execute(text(f"INSERT INTO {table} VALUES (:id, :iban)"),
                               [{"id": k, "iban": v} for k, v in plain.items()])
        connection.execute(text("CREATE INDEX ix_payment_counterparty_iban "
                                "ON payment (counterparty_iban)"))

    def run(step):
        with engine.begin() as connection, \
                Operations.context(MigrationContext.configure(connection)):
            step()

    def rows(table):
        with engine.connect() as connection:
            return {row[0]: (row[1], row[2]) for row in connection.execute(
                text(f"SELECT id, counterparty_iban, iban_hash FROM {table}"))}

    run(migration.upgrade)
    encrypted = {table: rows(table) for table in ("payment", "statement_line")}
    for table, found in encrypted.items():
        for row_id, iban in plain.items():
            stored, digest = found[row_id]
            if iban is None:
                assert (stored, digest) == (None, None)
            else:
                assert stored.startswith(FERNET_PREFIX) and digest == iban_hash(iban), table
        assert found[5][1] == iban_hash("BE68539007547034")  # normalised before hashing
    # Interrupted and run again: what is encrypted stays as it is.
    run(lambda: [migration._rewrite(t, migration._protect) for t in migration.TABLES])
    assert {table: rows(table) for table in encrypted} == encrypted
    with engine.connect() as connection:
        indexes = {row[1] for row in connection.execute(text("PRAGMA index_list(payment)"))}
    assert indexes == {"ix_payment_iban_hash"}

    run(migration.downgrade)
    for table in ("payment", "statement_line"):
        with engine.connect() as connection:
            back = {row[0]: row[1] for row in connection.execute(
                text(f"SELECT id, counterparty_iban FROM {table}"))}
            columns = [row[1] for row in connection.execute(text(f"PRAGMA table_info({table})"))]
        assert back == plain and "iban_hash" not in columns
    engine.dispose()
