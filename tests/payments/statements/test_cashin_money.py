"""Issue 15, items 1, 2 and 4: currencies, balances, re-sent files (files built from the
standards, see builders.py)."""
from __future__ import annotations

import io
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.core import validation as v
from app.core.audit_models import AuditEvent
from app.core.settings import set_setting
from app.core.time import business_today
from app.extensions import db
from app.payments.incoming.cash import cash_day
from app.payments.incoming.cli import import_statement_command
from app.payments.incoming.importing import import_statement
from app.payments.incoming.matching import suggestions_for
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.incoming.picking import Pick, accept_suggestion, confirm_pick, payment_of_line
from app.payments.models import Allocation, Payment
from app.payments.services import allocate, manual_match
from tests.helpers import csrf_token, make_staff_user
from tests.payments.statements.builders import CodaMovement, Entry, Tx, camt053, coda
from tests.payments.statements.conftest import count, fresh, state


def _ogm_entry(invoice, amount, ref="1") -> Entry:
    return Entry(amount, ref=ref, txs=[Tx(strd=[(invoice.structured_reference, "SCOR", "BBA")])])


# --- 1. currencies -------------------------------------------------------------------------------

def test_a_chf_line_stays_chf_and_never_settles_a_euro_invoice(app, tmp_path, invoices):
    """CHF 121.00 with the OGM of a EUR 121.00 invoice: a CHF payment, waiting for a person,
    the invoice still open; totals per currency on the report, the CLI and the cash screen."""
    data = camt053([_ogm_entry(invoices[0], "121.00")], currency="CHF", statement_id="CHF-1")
    path = tmp_path / "chf.xml"
    path.write_bytes(data)
    result = app.test_cli_runner().invoke(import_statement_command, [str(path)])
    assert result.exit_code == 0, result.output
    assert "CHF" in result.output and "€121.00" not in result.output
    line = db.session.scalar(select(StatementLine))
    assert line.currency == "CHF" and line.status in ("suggested", "unmatched")
    assert line.payment.currency == "CHF" and line.payment.unallocated_amount == D("121.00")
    assert "foreign_currency" in line.suggestion["notes"]
    assert fresh(invoices[0]).status == "open" and count(Allocation) == 0
    day = cash_day(business_today())
    waiting = day.totals["suggested"].amounts | day.totals["unmatched"].amounts
    assert waiting == {"CHF": D("121.00")}
    assert day.waiting.amounts == {"CHF": D("121.00")}


def test_every_staff_path_refuses_chf_for_a_euro_invoice(app, invoices, customer):
    import_statement(camt053([_ogm_entry(invoices[0], "121.00")], currency="CHF",
                             statement_id="CHF-2"), "chf.xml")
    line = db.session.scalar(select(StatementLine))
    user = make_staff_user(app, "AR clerk")
    payment = payment_of_line(line)
    before = state()
    with pytest.raises(v.ValidationError) as refused:
        manual_match(payment, customer, [(invoices[0], D("121.00"))], user)
    assert "in EUR and this payment is in CHF" in str(refused.value.errors)
    db.session.rollback()
    with pytest.raises(v.ValidationError):
        confirm_pick(line=line, customer_id=customer.id,
                     picks=[Pick(invoices[0].id, D("121.00"))], user=user)
    db.session.rollback()
    suggestion = next(p for p in suggestions_for(line) if p.invoices)
    with pytest.raises(v.ValidationError):
        accept_suggestion(line, suggestion, user)
    db.session.rollback()
    with pytest.raises(v.ValidationError):
        allocate(fresh(payment), fresh(invoices[0]), D("121.00"))
    db.session.rollback()
    assert state() == before


def test_a_chf_payment_settles_a_chf_invoice_by_hand(app, invoices, customer):
    chf = invoices[1]
    chf.currency = "CHF"
    db.session.commit()
    import_statement(camt053([_ogm_entry(chf, "250.00")], currency="CHF",
                             statement_id="CHF-3"), "chf.xml")
    line = db.session.scalar(select(StatementLine))
    assert line.status == "suggested"  # foreign currency: a person confirms
    manual_match(payment_of_line(line), customer, [(chf, D("250.00"))],
                 make_staff_user(app, "AR clerk"))
    db.session.commit()
    assert fresh(chf).status == "paid"
    # Oldest-first never reaches the euro invoices with francs.
    assert fresh(invoices[0]).status == "open"


def test_a_coda_statement_of_a_chf_account_gives_chf_lines(invoices):
    data = coda([CodaMovement("121.00", ogm=invoices[0].structured_reference)],
                currency="CHF")
    report = import_statement(data, "chf.cod")
    assert report.ok and report.matched.count == 0
    assert report.suggested.amounts == {"CHF": D("121.00")}
    line = db.session.scalar(select(StatementLine))
    assert line.currency == "CHF" and line.payment.currency == "CHF"
    assert fresh(invoices[0]).status == "open"


def test_lines_of_an_account_that_is_not_the_company_s_wait(invoices):
    data = camt053([_ogm_entry(invoices[0], "121.00")], account="BE71096123456769",
                   statement_id="OTHER-1")
    report = import_statement(data, "other.xml")
    assert report.ok and report.matched.count == 0 and report.suggested.count == 1
    assert any("BE71096123456769" in warning for warning in report.warnings)
    statement = db.session.scalar(select(BankStatement))
    assert statement.account_known is False
    line = db.session.scalar(select(StatementLine))
    assert "not_our_account" in line.suggestion["notes"]
    assert fresh(invoices[0]).status == "open"
    # Once the account is declared the company's, its next statements book as usual.
    set_setting("payments.company_accounts", "BE71 0961 2345 6769\nNL77ABNA0574908765")
    db.session.commit()
    again = import_statement(camt053([_ogm_entry(invoices[1], "250.00", ref="2")],
                                     account="BE71096123456769", statement_id="OTHER-2"), "o2")
    assert again.matched.count == 1 and not again.warnings


# --- 2. balances ----------------------------------------------------------------------------------

def test_a_camt_file_that_does_not_add_up_is_refused_naming_the_statement(invoices):
    data = camt053([_ogm_entry(invoices[0], "121.00")], statement_id="STMT-BAD",
                   opening="1000.00", closing="1100.00")
    before = state()
    report = import_statement(data, "bad.xml")
    assert report.error_code == "balance_mismatch"
    assert "Statement 1 of 1 (STMT-BAD" in report.error
    assert "€1,121.00" in report.error and "€1,100.00" in report.error
    assert "-€21.00" in report.error  # the difference
    assert state() == before


def test_import_anyway_records_who_and_why(app, invoices):
    user = make_staff_user(app, "AR clerk")
    data = camt053([_ogm_entry(invoices[0], "121.00")], statement_id="STMT-BAD",
                   opening="1000.00", closing="1100.00")
    report = import_statement(data, "bad.xml", user, force_reason="bank confirmed a fee line")
    assert report.ok and report.matched.count == 1
    statement = db.session.scalar(select(BankStatement))
    assert statement.balance_status == "mismatch" and statement.balance_difference == D("-21.00")
    assert statement.imported_anyway_reason == "bank confirmed a fee line"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import_anyway"))
    assert event.actor == user.username and "bank confirmed a fee line" in event.detail
    assert event.entity_id == str(statement.id)


def test_a_coda_file_that_does_not_add_up_is_refused():
    data = coda([CodaMovement("10.00"), CodaMovement("-2.50")], closing="1010.00")
    report = import_statement(data, "bad.cod")
    assert report.error_code == "balance_mismatch"
    assert "Statement 1 of 1 (042" in report.error and "€2.50" in report.error
    assert import_statement(coda([CodaMovement("10.00"), CodaMovement("-2.50")]), "ok.cod").ok


def test_a_file_without_balances_is_imported_with_a_warning(invoices):
    report = import_statement(camt053([_ogm_entry(invoices[0], "121.00")], opening=None),
                              "nobal.xml")
    assert report.ok and report.matched.count == 1
    assert any("no opening and closing balance" in warning for warning in report.warnings)
    assert db.session.scalar(select(BankStatement.balance_status)) == "missing"


def test_admin_upload_import_anyway_needs_a_reason(staff_client, invoices):
    client = staff_client("AR clerk")
    page = client.get("/statements/import")
    token = csrf_token(page.get_data(as_text=True))
    data = camt053([_ogm_entry(invoices[0], "121.00")], opening="0", closing="5")

    def post(**fields):
        return client.post("/statements/import", data={
            "csrf_token": token, "file": (io.BytesIO(data), "bad.xml"), **fields},
            content_type="multipart/form-data")

    refused = post()
    assert refused.status_code == 422 and "does not add up" in refused.get_data(as_text=True)
    no_reason = post(import_anyway="y")
    assert no_reason.status_code == 400 and count(BankStatement) == 0
    done = post(import_anyway="y", reason="fee booked separately")
    assert done.status_code == 200, done.get_data(as_text=True)[:500]
    assert "does not add up" in done.get_data(as_text=True)  # shown as a warning
    assert fresh(invoices[0]).status == "paid"


def test_the_api_refuses_then_imports_anyway(app, invoices):
    from tests.api.support import ApiClient, jwt_for

    client = app.test_client()
    api = ApiClient(client, jwt_for(app, client, "AR clerk"))
    data = camt053([_ogm_entry(invoices[0], "121.00")], opening="0", closing="5")
    headers = {**api.headers, "Content-Type": "application/xml"}
    refused = client.post("/api/v1/statements", data=data, headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "balance_mismatch"
    done = client.post("/api/v1/statements?import_anyway=fees", data=data, headers=headers)
    assert done.status_code == 201 and done.get_json()["matched"]["count"] == 1


# --- 4. a statement's identity is not the file's bytes ----------------------------------------

def test_a_camt_file_sent_again_with_other_line_endings_changes_nothing(invoices):
    data = camt053([_ogm_entry(invoices[0], "121.00")]).replace(b"\n", b"\r\n")
    assert import_statement(data, "a.xml").ok
    before = state()
    for again in (data.replace(b"\r\n", b"\n"), data + b"\n", data.replace(b"\r\n", b"\n")
                  + b"\n\n"):
        report = import_statement(again, "a-again.xml")
        assert report.error_code == "already_imported", report.error
    assert state() == before and count(BankStatement) == 1


def test_a_coda_file_sent_again_with_lf_changes_nothing():
    data = coda([CodaMovement("10.00"), CodaMovement("20.00")])
    assert import_statement(data, "a.cod").ok
    before = state()
    report = import_statement(data.replace(b"\r\n", b"\n").rstrip(b"\n"), "b.cod")
    assert report.error_code == "already_imported"
    assert state() == before and count(BankStatement) == 1


def test_a_file_with_one_new_statement_stores_only_that_one(invoices):
    first = camt053([_ogm_entry(invoices[0], "121.00")], statement_id="DAY-1")
    assert import_statement(first, "day1.xml").ok
    second = camt053([_ogm_entry(invoices[1], "250.00", ref="2")], statement_id="DAY-2")
    # Two <Stmt> in one document: the first sent again, the second new.
    both = first.replace(b"</BkToCstmrStmt>", second[second.index(b"<Stmt>"):
                                                      second.index(b"</BkToCstmrStmt>")]
                         + b"</BkToCstmrStmt>")
    report = import_statement(both, "both.xml")
    assert report.ok and report.new_lines == 1 and report.duplicates == 1
    assert count(BankStatement) == 2
    assert fresh(invoices[1]).status == "paid"
    assert count(Payment) == 2


def test_francs_kept_as_credit_are_not_a_euro_credit(app, invoices, customer):
    import_statement(camt053([_text_entry_free("500.00")], currency="CHF",
                             statement_id="CHF-4"), "chf.xml")
    line = db.session.scalar(select(StatementLine))
    before = fresh(customer).balance
    manual_match(payment_of_line(line), customer, [], make_staff_user(app, "AR clerk"))
    db.session.commit()
    assert fresh(line.payment).customer_id == customer.id
    assert fresh(customer).balance == before == D("451.00")


def _text_entry_free(amount) -> Entry:
    return Entry(amount, ref="F1", txs=[Tx(ustrd=["merci"], iban=None)])


def test_the_line_page_shows_francs_as_francs(staff_client, invoices):
    import re

    import_statement(camt053([_ogm_entry(invoices[0], "121.00")], currency="CHF",
                             statement_id="CHF-5"), "chf.xml")
    line = db.session.scalar(select(StatementLine))
    html = staff_client("AR clerk").get(f"/matching/line/{line.id}").get_data(as_text=True)
    assert "CHF" in html
    buttons = re.findall(r'class="btn btn-(?:success|default) btn-sm cd-(?:confirm|credit-only)">'
                         r"([^<]+)<", html)
    assert buttons and all("€" not in text and "CHF" in text for text in buttons)
