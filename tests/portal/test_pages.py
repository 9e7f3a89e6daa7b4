"""What a signed-in customer sees: dashboard, invoices, invoice detail, PDF, pay, statement."""
from __future__ import annotations

import base64
import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from app.customers.models import Mandate
from app.extensions import db
from app.invoices import epc
from app.invoices.models import CreditNote, InvoiceLine
from app.payments.services import clean_payment, post_payment
from app.requests.models import CustomerRequest, Deferral, Dispute, PaymentPlan
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


def text_of(response) -> str:
    """The visible text, tags dropped and spaces (incl. no-break ones) collapsed."""
    return text_of_html(response.get_data(as_text=True))


def text_of_html(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("\xa0", " ").replace("\u202f", " ")
                    .split())


def pay(customer, amount, days_ago=1, **extra):
    payment, _ = post_payment(clean_payment({
        "customer_number": customer.number, "amount": str(amount),
        "received_on": (TODAY - timedelta(days=days_ago)).isoformat(), **extra}))
    db.session.commit()
    return payment


@pytest.fixture
def english(app):
    """Pages in English (the customers made by the helpers speak French)."""
    return "?lang=en"


# --- dashboard --------------------------------------------------------------------------------

@pytest.mark.parametrize("status, words", [
    ("collection_agency", "handed over to our collection agency"),
    ("legal_proceedings", "in legal proceedings"),
    ("insolvent", "insolvency procedure"),
])
def test_dashboard_tells_the_customer_their_legal_status(portal_client, english, status, words):
    customer = make_customer(email=f"{status}@example.test", legal_status=status)
    page = text_of(portal_client(customer).get("/portal/" + english))
    assert words in page


def test_no_legal_notice_for_an_ordinary_customer(portal_client, english):
    customer = make_customer(email="ordinary@example.test")
    response = portal_client(customer).get("/portal/" + english)
    assert 'id="legal-status"' not in response.get_data(as_text=True)


def test_dashboard_figures_and_next_action(portal_client, english):
    customer = make_customer(email="dash@example.test")
    make_invoice(customer, total="150.00", due_in_days=-10)
    disputed = make_invoice(customer, total="40.00", due_in_days=-5)
    make_invoice(customer, total="80.00", due_in_days=12)
    db.session.add(Dispute(customer_id=customer.id, invoice_id=disputed.id,
                           amount=Decimal("40.00"), reason="wrong_amount", status="open"))
    db.session.add(CustomerRequest(customer_id=customer.id, kind="deferral", status="received",
                                   subject="More time please"))
    db.session.commit()
    page = text_of(portal_client(customer).get("/portal/" + english))
    assert "Balance due €270.00" in page
    assert "Overdue €190.00" in page
    assert "of which disputed: €40.00" in page
    assert f"Next due date {(TODAY + timedelta(days=12)).strftime('%B')}" in page
    assert "Open requests 1" in page and "More time please" in page
    # The disputed invoice is not part of what we ask to pay now.
    assert "Pay €150.00 now" in page
    assert "Pay the overdue invoices" in page


def test_dashboard_nets_money_received_and_not_allocated(portal_client, english):
    """The balance is what the customer owes net: an overpayment is deducted, and a customer
    who paid more than everything open sees their credit and how to get it back."""
    customer = make_customer(email="overpaid@example.test")
    first = make_invoice(customer, total="100.00", due_in_days=-3)
    pay(customer, "130.00", invoice_number=first.number)  # 30.00 left unallocated
    client = portal_client(customer)
    page = text_of(client.get("/portal/" + english))
    assert "Your credit with us €30.00" in page and "Ask for a refund" in page
    assert "€30.00 from you that is not yet allocated" in page

    make_invoice(customer, total="80.00", due_in_days=10)
    page = text_of(client.get("/portal/" + english))
    assert "Balance due €50.00" in page and "Your credit with us" not in page
    from app.customers.services import compute_balance

    assert compute_balance(customer.id) == Decimal("50.00")


def test_next_action_when_nothing_is_overdue(portal_client, english):
    customer = make_customer(email="calm@example.test")
    invoice = make_invoice(customer, total="80.00", due_in_days=12)
    page = text_of(portal_client(customer).get("/portal/" + english))
    assert f"Next payment: €80.00 for invoice {invoice.number}" in page
    assert "Pay this invoice" in page


def test_next_action_sign_the_mandate(portal_client, english):
    customer = make_customer(email="dd@example.test", payment_method="direct_debit")
    client = portal_client(customer)
    html = client.get("/portal/" + english).get_data(as_text=True)
    assert "no signed mandate yet" in text_of_html(html)
    # The action comes with its button to the direct-debit page, which opens.
    action = re.search(r'<section class="next-action next-action-sign_mandate".*?</section>',
                       html, flags=re.DOTALL)
    assert action and 'class="button" href="/portal/direct-debit"' in action.group(0)
    assert client.get("/portal/direct-debit").status_code == 200
    db.session.add(Mandate(customer_id=customer.id, reference="MD-1", status="active"))
    db.session.commit()
    assert "nothing to pay right now" in text_of(client.get("/portal/" + english))


def test_deferred_and_planned_invoices_are_not_overdue(portal_client, english):
    customer = make_customer(email="plan@example.test")
    deferred = make_invoice(customer, total="100.00", due_in_days=-20)
    planned = make_invoice(customer, total="300.00", due_in_days=-40)
    db.session.add(Deferral(customer_id=customer.id, invoice_id=deferred.id,
                            original_due_date=deferred.due_date,
                            new_due_date=TODAY + timedelta(days=10), status="active"))
    plan = PaymentPlan(customer_id=customer.id, status="active", total_amount=Decimal(300),
                       installment_count=3, day_of_month=5, start_date=TODAY)
    plan.invoices.append(planned)
    db.session.add(plan)
    db.session.commit()
    client = portal_client(customer)
    page = text_of(client.get("/portal/" + english))
    assert "Overdue €0.00" in page
    detail = text_of(client.get(f"/portal/invoices/{deferred.id}" + english))
    assert "Deferred" in detail and "Deferred until" in detail
    assert "In a payment plan" in text_of(client.get(f"/portal/invoices/{planned.id}" + english))
    pay_page = text_of(client.get(f"/portal/invoices/{planned.id}/pay" + english))
    assert "paid through your payment plan" in pay_page and "IBAN" not in pay_page


# --- invoice lists ----------------------------------------------------------------------------

def test_invoice_tabs_and_filters(portal_client, english):
    customer = make_customer(email="list@example.test")
    late = make_invoice(customer, total="10.00", due_in_days=-3, description="Heating")
    soon = make_invoice(customer, total="20.00", due_in_days=5, description="Water")
    paid = make_invoice(customer, total="30.00", due_in_days=-30,
                        issue_date=TODAY - timedelta(days=90))
    pay(customer, "30.00", reference=paid.number, invoice_number=paid.number)
    client = portal_client(customer)

    def numbers(query):
        html = client.get("/portal/invoices" + query).get_data(as_text=True)
        return {n for n in (late.number, soon.number, paid.number) if n in html}

    assert numbers("?status=open&lang=en") == {late.number, soon.number}
    assert numbers("?status=overdue") == {late.number}
    assert numbers("?status=paid") == {paid.number}
    assert numbers("?status=all") == {late.number, soon.number, paid.number}
    assert numbers("?status=all&q=heat") == {late.number}
    assert numbers(f"?status=all&q={soon.number}") == {soon.number}
    start = (TODAY - timedelta(days=60)).isoformat()
    assert numbers(f"?status=all&from={start}") == {late.number, soon.number}
    assert numbers(f"?status=all&to={start}") == {paid.number}


def test_wrong_filters_give_a_message_not_an_error(portal_client, english):
    customer = make_customer(email="badfilter@example.test")
    make_invoice(customer)
    response = portal_client(customer).get("/portal/invoices?status=nope&from=31/02/2024"
                                           "&page=abc&q=%25_&lang=en")
    assert response.status_code == 200
    page = text_of(response)
    assert "were not understood" in page and "status" in page and "from" in page


def test_invoice_list_pages(portal_client, english):
    customer = make_customer(email="many@example.test")
    for days in range(30):
        make_invoice(customer, total="5.00", due_in_days=days)
    client = portal_client(customer)
    first = text_of(client.get("/portal/invoices?lang=en"))
    assert "Page 1 of 2" in first
    second = client.get("/portal/invoices?page=2&lang=en").get_data(as_text=True)
    assert second.count('data-label="Invoice"') == 5


def _tab_view(client, query: str) -> tuple[dict[str, int], int, list[int]]:
    """(count per tab, the list's total, invoice ids listed) of one invoice-list page."""
    html = client.get("/portal/invoices" + query).get_data(as_text=True)
    counts = {k: int(n) for k, n in re.findall(r'data-tab="(\w+)" data-count="(\d+)"', html)}
    total = int(re.search(r'id="invoice-list" data-total="(\d+)"', html).group(1))
    return counts, total, [int(i) for i in re.findall(r'<tr data-invoice="(\d+)"', html)]


def _defer(customer, invoice, days=10):
    db.session.add(Deferral(customer_id=customer.id, invoice_id=invoice.id,
                            original_due_date=invoice.due_date,
                            new_due_date=TODAY + timedelta(days=days), status="active"))


def _plan(customer, *invoices):
    plan = PaymentPlan(customer_id=customer.id, status="active", total_amount=Decimal(300),
                       installment_count=3, day_of_month=5, start_date=TODAY)
    plan.invoices.extend(invoices)
    db.session.add(plan)


def test_overdue_tab_leaves_out_deferred_and_planned_invoices(portal_client):
    """A deferred or planned invoice past its due date is not "Overdue": not in the tab's count,
    not in its total, not in its list; it stays under "Open"."""
    customer = make_customer(email="onlydeferred@example.test")
    deferred = make_invoice(customer, total="100.00", due_in_days=-20)
    planned = make_invoice(customer, total="300.00", due_in_days=-40)
    _defer(customer, deferred)
    _plan(customer, planned)
    db.session.commit()
    client = portal_client(customer)
    counts, total, listed = _tab_view(client, "?status=overdue")
    assert counts["overdue"] == 0 and total == 0 and listed == []
    assert counts["open"] == 2
    # A deferral that has run out again makes the invoice overdue again, in all three places.
    late = make_invoice(customer, total="50.00", due_in_days=-30)
    _defer(customer, late, days=-2)
    db.session.commit()
    counts, total, listed = _tab_view(client, "?status=overdue")
    assert (counts["overdue"], total, listed) == (1, 1, [late.id])
    # With a search the count is made by the same filter.
    counts, total, listed = _tab_view(client, f"?status=overdue&q={deferred.number}")
    assert (total, listed) == (0, [])


def test_overdue_tab_pages_agree_with_its_count(portal_client):
    """Deferred invoices sort first by their original due date: filtering after paging used to
    leave page 1 short and the count too high."""
    customer = make_customer(email="overduepages@example.test")
    for n in range(6):
        _defer(customer, make_invoice(customer, total="5.00", due_in_days=-60 - n))
    overdue = {make_invoice(customer, total="5.00", due_in_days=-30 + n // 2).id
               for n in range(27)}
    db.session.commit()
    client = portal_client(customer)
    counts, total, first = _tab_view(client, "?status=overdue")
    _counts, _total, second = _tab_view(client, "?status=overdue&page=2")
    assert counts["overdue"] == total == 27
    assert len(first) == 25 and len(second) == 2
    assert set(first) | set(second) == overdue


# --- one invoice ------------------------------------------------------------------------------

def test_invoice_detail_lines_history_and_status(portal_client, english):
    customer = make_customer(email="detail@example.test")
    invoice = make_invoice(customer, total="121.00", due_in_days=-15)
    invoice.lines.append(InvoiceLine(position=1, description="Boiler service",
                                     quantity=Decimal("2.5"), unit_price=Decimal("40.00"),
                                     amount=Decimal("121.00")))
    invoice.dunning_level = 2
    invoice.last_reminded_on = TODAY - timedelta(days=2)
    db.session.add(Dispute(customer_id=customer.id, invoice_id=invoice.id,
                           amount=Decimal("21.00"), status="open"))
    db.session.commit()
    pay(customer, "50.00", days_ago=3, invoice_number=invoice.number)
    page = text_of(portal_client(customer).get(f"/portal/invoices/{invoice.id}" + english))
    assert "Boiler service" in page and "2.5" in page
    assert "Already paid €50.00" in page and "Still to pay €71.00" in page
    assert "Partly paid" in page and "Disputed" in page and "Reminded (level 2)" in page
    assert "Bank transfer €50.00" in page
    assert "Pay €50.00" in page  # 71 open less 21 disputed


def test_invoice_without_lines_shows_its_total(portal_client, english):
    customer = make_customer(email="nolines@example.test")
    invoice = make_invoice(customer, total="99.00")
    page = text_of(portal_client(customer).get(f"/portal/invoices/{invoice.id}" + english))
    assert "Total amount: €99.00" in page and "No payment received yet" in page


def test_free_text_is_shown_escaped(portal_client, english):
    customer = make_customer(email="xss@example.test", name="<b>Bold</b> & Co")
    invoice = make_invoice(customer, description="<script>alert('x')</script>")
    client = portal_client(customer)
    for url in ("/portal/", "/portal/invoices", f"/portal/invoices/{invoice.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<b>Bold</b>" not in html
    html = client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html


def test_invoice_pdf_download(portal_client):
    customer = make_customer(email="pdf@example.test")
    invoice = make_invoice(customer, total="64.00")
    response = portal_client(customer).get(f"/portal/invoices/{invoice.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert invoice.number in response.headers["Content-Disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert invoice.number in text


# --- paying -----------------------------------------------------------------------------------

def _qr_svg(response) -> bytes:
    match = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', response.get_data(as_text=True))
    assert match, "no QR code on the page"
    return base64.b64decode(match.group(1))


def test_pay_one_invoice_with_iban_bic_ogm_and_qr(portal_client, english):
    customer = make_customer(email="payone@example.test")
    invoice = make_invoice(customer, total="125.50", due_in_days=-2)
    response = portal_client(customer).get(f"/portal/invoices/{invoice.id}/pay" + english)
    page = text_of(response)
    ogm = invoice.structured_reference
    printed = f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++"
    assert "€125.50" in page and "BE04 0682 4613 7931" in page and "GKCCBEBB" in page
    assert printed in page and "Structured communication" in page
    expected = epc.epc_payload(name="CreditDesk Demo SA", iban="BE04068246137931",
                               bic="GKCCBEBB", amount=Decimal("125.50"), reference=ogm,
                               info=f"Invoice {invoice.number}")
    assert _qr_svg(response) == epc.qr_svg(epc.make_qr(expected), scale=5)


def test_pay_all_overdue_leaves_disputed_amounts_out(portal_client, english):
    customer = make_customer(email="payall@example.test")
    first = make_invoice(customer, total="100.00", due_in_days=-30)
    second = make_invoice(customer, total="60.00", due_in_days=-10)
    whole = make_invoice(customer, total="45.00", due_in_days=-5)
    make_invoice(customer, total="500.00", due_in_days=20)  # not due yet: not included
    db.session.add_all([
        Dispute(customer_id=customer.id, invoice_id=second.id, amount=Decimal("20.00"),
                status="open"),
        Dispute(customer_id=customer.id, invoice_id=whole.id, amount=Decimal("45.00"),
                status="open")])
    db.session.commit()
    response = portal_client(customer).get("/portal/pay" + english)
    page = text_of(response)
    assert "Amount €140.00" in page
    assert first.number in page and second.number in page
    assert "disputed amount of €20.00 left out" in page
    assert f"fully disputed: {whole.number}" in page
    payload_amount = epc.epc_payload(name="X", iban="BE04068246137931", amount="140.00")
    assert payload_amount.split("\n")[7] == "EUR140.00"
    ogm = first.structured_reference  # the oldest overdue invoice's communication
    assert f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++" in page
    assert _qr_svg(response)


def test_pay_pages_when_nothing_is_due(portal_client, english):
    customer = make_customer(email="paid@example.test")
    invoice = make_invoice(customer, total="10.00", due_in_days=-3)
    pay(customer, "10.00", invoice_number=invoice.number)
    client = portal_client(customer)
    assert "Nothing is overdue" in text_of(client.get("/portal/pay" + english))
    assert "nothing left to pay" in text_of(client.get(f"/portal/invoices/{invoice.id}/pay"
                                                       + english))


def test_pay_page_survives_a_broken_iban_setting(portal_client, english):
    from app.core.models import Setting

    customer = make_customer(email="brokeniban@example.test")
    invoice = make_invoice(customer, total="10.00", due_in_days=-3)
    db.session.add(Setting(key="company.iban", value="BE00 1234", category="company"))
    db.session.commit()
    response = portal_client(customer).get(f"/portal/invoices/{invoice.id}/pay" + english)
    assert response.status_code == 200
    assert "payment details are being updated" in text_of(response)


# --- statement --------------------------------------------------------------------------------

def _statement_customer():
    customer = make_customer(email="statement@example.test")
    old = make_invoice(customer, total="200.00", issue_date=TODAY - timedelta(days=400),
                       due_in_days=-370)
    pay(customer, "150.00", days_ago=380, invoice_number=old.number)
    recent = make_invoice(customer, total="100.00", issue_date=TODAY - timedelta(days=40),
                          due_in_days=-10)
    db.session.add(CreditNote(customer_id=customer.id, number="CN-1",
                              issue_date=TODAY - timedelta(days=20), amount=Decimal("30.00"),
                              open_amount=Decimal("30.00"), status="open"))
    db.session.commit()
    pay(customer, "25.00", days_ago=5, invoice_number=recent.number)
    return customer, old, recent


def test_statement_running_balance_and_aging(portal_client, english):
    customer, _old, recent = _statement_customer()
    start = (TODAY - timedelta(days=60)).isoformat()
    page = text_of(portal_client(customer).get(f"/portal/statement?from={start}&lang=en"))
    # Opening balance: 200 invoiced - 150 paid before the period.
    assert "Opening balance €50.00" in page
    assert re.search(rf"Invoice {recent.number} .*? €100.00 €150.00", page)
    assert "Credit note CN-1 Credit note €30.00 €120.00" in page
    assert re.search(r"Payment .*?€25.00 €95.00", page)
    assert "Closing balance €95.00" in page
    # Aging: 50 open for >90 days, 75 open 1-30 days late.
    assert "More than 90 days €50.00" in page and "1–30 days €75.00" in page
    assert "Total open €125.00" in page


def _csv_parts(data: bytes, delimiter: str = ",") -> tuple[list[list[str]], list[list[str]]]:
    """(statement rows, aging rows): the aging summary follows the lines after an empty row."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))
    blank = rows.index([])
    return rows[:blank], rows[blank + 1:]


def test_statement_csv_and_pdf(portal_client):
    customer, _old, recent = _statement_customer()
    client = portal_client(customer)
    start = (TODAY - timedelta(days=60)).isoformat()
    response = client.get(f"/portal/statement.csv?from={start}&lang=en")
    assert response.mimetype == "text/csv"
    rows, _aging = _csv_parts(response.data)
    assert rows[0] == ["Date", "Type", "Document", "Description", "Debit", "Credit", "Balance"]
    assert rows[1][-1] == "50.00" and rows[-1][-1] == "95.00"
    assert [r[2] for r in rows[2:-1]][:2] == [recent.number, "CN-1"]
    french = client.get(f"/portal/statement.csv?from={start}&lang=fr").data.decode("utf-8-sig")
    closing_line = french.split("\r\n\r\n")[0].splitlines()[-1]
    assert closing_line.endswith(";95,00")
    pdf = client.get(f"/portal/statement.pdf?from={start}&lang=nl")
    assert pdf.data.startswith(b"%PDF")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert recent.number in text and "CN-1" in text
    assert "95,00" in text  # Dutch amounts


def _aging_labels(language: str) -> dict[str, str]:
    from flask_babel import force_locale

    from app.accounts.statement import AGING_BUCKETS

    with force_locale(language):
        return {key: str(label) for key, label, *_ in AGING_BUCKETS}


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_statement_csv_and_pdf_carry_the_aging_summary(portal_client, language):
    """The same buckets and amounts as the page: 50.00 open > 90 days, 75.00 open 1-30 days."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    customer, _old, _recent = _statement_customer()
    client = portal_client(customer)
    labels = _aging_labels(language)
    decimal = "," if language in ("fr", "nl") else "."
    expected = {"current": "0.00", "d1_30": "75.00", "d31_60": "0.00", "d61_90": "0.00",
                "d90": "50.00"}
    page = client.get(f"/portal/statement?lang={language}").get_data(as_text=True)
    shown = dict(re.findall(r'data-bucket="(\w+)" data-amount="([\d.]+)"', page))
    assert shown == expected

    lines, aging = _csv_parts(client.get(f"/portal/statement.csv?lang={language}").data,
                              ";" if language in ("fr", "nl") else ",")
    assert lines[-1][-1].replace(",", ".") == "95.00"  # the closing balance ends the lines
    with force_locale(language):
        heading, total = _("Open amounts by age"), _("Total open")
    assert aging[0][0] == heading
    assert aging[1:-1] == [[labels[key], amount.replace(".", decimal)]
                           for key, amount in expected.items()]
    assert aging[-1] == [total, "125" + decimal + "00"]

    pdf = client.get(f"/portal/statement.pdf?lang={language}")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    flat = " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())
    assert heading in flat and total in flat
    for key in expected:
        assert labels[key] in flat, key
    assert "50" + decimal + "00" in flat and "75" + decimal + "00" in flat


def test_aging_buckets_at_their_boundaries(app):
    """Days overdue -> bucket: 0 and earlier "not yet due", 1-30, 31-60, 61-90, 91 and more."""
    from app.accounts.statement import statement

    customer = make_customer(email="agingedges@example.test")
    amount = 1
    for due_in_days in (5, 0, -1, -30, -31, -60, -61, -90, -91):
        make_invoice(customer, total=f"{amount}.00", due_in_days=due_in_days)
        amount *= 2
    found = statement(customer, today=TODAY)
    buckets, total = found.aging, found.aging_total
    assert {key: value for key, _label, value in buckets} == {
        "current": Decimal("3.00"), "d1_30": Decimal("12.00"), "d31_60": Decimal("48.00"),
        "d61_90": Decimal("192.00"), "d90": Decimal("256.00")}
    assert total == Decimal("511.00")


def test_statement_shows_what_was_written_off_either_way(app, portal_client, english):
    """An approved write-off leaves nothing open on the invoice and keeps the amount on its
    WriteOff row; an invoice staff marked "written off" keeps its open amount. Both are credit
    lines on the statement, and both count in an opening balance."""
    from app.accounts.statement import statement
    from app.core.roles import AR_CLERK
    from app.payments.outgoing.adjustments import approve_write_off, propose_write_off
    from tests.helpers import make_staff_user

    customer = make_customer(email="writtenoff@example.test")
    approved = make_invoice(customer, total="40.00", issue_date=TODAY - timedelta(days=200),
                            due_in_days=-170)
    marked = make_invoice(customer, total="30.00", issue_date=TODAY - timedelta(days=10),
                          due_in_days=20)
    clerk = make_staff_user(app, AR_CLERK)
    write_off = propose_write_off(approved, "Estate insolvent", clerk)
    db.session.commit()
    approve_write_off(write_off, clerk)
    marked.status = "written_off"
    db.session.commit()

    found = statement(customer, TODAY - timedelta(days=60), TODAY)
    assert found.opening_balance == Decimal("40.00")  # invoiced before the period
    write_offs = sorted((line.reference, line.credit) for line in found.lines
                        if line.kind == "write_off")
    assert write_offs == sorted([(approved.number, Decimal("40.00")),
                                 (marked.number, Decimal("30.00"))])
    assert found.closing_balance == 0
    later = statement(customer, TODAY + timedelta(days=1), TODAY + timedelta(days=2))
    assert later.opening_balance == 0 and later.lines == []
    page = text_of(portal_client(customer).get(
        f"/portal/statement?from={(TODAY - timedelta(days=60)).isoformat()}&lang=en"))
    assert "Closing balance €0.00" in page and "Written off" in page


def test_statement_with_wrong_dates_explains(portal_client, english):
    customer = make_customer(email="baddates@example.test")
    response = portal_client(customer).get("/portal/statement?from=2024-13-01&to=yesterday"
                                           "&lang=en")
    assert response.status_code == 200 and "were not understood" in text_of(response)


def test_csv_cells_cannot_run_formulas(app):
    from app.core.spreadsheets import safe_cell  # the writer statement_csv uses

    assert safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert safe_cell("INV-1") == "INV-1"


# --- languages and page hygiene ---------------------------------------------------------------

@pytest.mark.parametrize(("language", "amount"), [("fr", "150,00 €"), ("nl", "€ 150,00"),
                                                    ("en", "€150.00")])
def test_amounts_and_language_follow_the_switcher(portal_client, language, amount):
    customer = make_customer(email=f"lang{language}@example.test", language="en")
    make_invoice(customer, total="150.00", due_in_days=-3)
    client = portal_client(customer)
    switched = client.get(f"/portal/language/{language}?next=/portal/")
    assert switched.status_code == 302
    response = client.get("/portal/")
    assert f'<html lang="{language}">' in response.get_data(as_text=True)
    assert amount in text_of(response)
    assert f'aria-current="true">{language.upper()}' in response.get_data(as_text=True)


def test_customer_language_is_the_default(portal_client):
    customer = make_customer(email="nlcustomer@example.test", language="nl")
    response = portal_client(customer).get("/portal/")
    assert '<html lang="nl">' in response.get_data(as_text=True)


def test_security_headers_and_no_other_host(portal_client):
    customer = make_customer(email="headers@example.test")
    invoice = make_invoice(customer, due_in_days=-1)
    client = portal_client(customer)
    for url in ("/portal/", "/portal/invoices", f"/portal/invoices/{invoice.id}",
                f"/portal/invoices/{invoice.id}/pay", "/portal/statement", "/portal/login"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "http" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"  # never to another host
        assert response.headers["Cache-Control"] == "no-store"
        html = response.get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', html), url
        assert "<script" not in html


def test_pages_have_labels_and_landmarks(portal_client):
    customer = make_customer(email="a11y@example.test")
    make_invoice(customer)
    client = portal_client(customer)
    html = client.get("/portal/invoices").get_data(as_text=True)
    assert '<main id="main"' in html and 'class="skip-link" href="#main"' in html
    for field in ("q", "from", "to"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html


def test_language_links_keep_the_page_but_not_an_explicit_lang(portal_client):
    customer = make_customer(email="switch@example.test")
    client = portal_client(customer)
    html = client.get("/portal/invoices?status=paid&lang=en").get_data(as_text=True)
    href = re.search(r'href="(/portal/language/nl[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "lang%3D" not in href and "status%3Dpaid" in href
    response = client.get(href)
    assert response.headers["Location"] == "/portal/invoices?status=paid"
    assert '<html lang="nl">' in client.get(response.headers["Location"]).get_data(as_text=True)


# --- returned payments ------------------------------------------------------------------------

def _returned_direct_debit(customer, invoice, amount="80.00", days_ago=10):
    """A direct debit that paid ``invoice``, then returned by the customer's bank (MD06)."""
    from app.payments.consequences import Consequences
    from app.payments.services import reverse_payment

    payment = pay(customer, amount, days_ago=days_ago, method="direct_debit",
                  invoice_number=invoice.number)
    db.session.refresh(invoice)
    assert invoice.status == "paid"
    consequences = Consequences(notify=False)
    reverse_payment(payment, reason_code="MD06", line=None, consequences=consequences)
    consequences.apply()
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.status in ("open", "partially_paid") and invoice.open_amount == Decimal(amount)
    return payment


def test_returned_direct_debit_shows_on_the_statement_with_its_reversal(portal_client):
    customer = make_customer(email="returned@example.test", payment_method="direct_debit")
    invoice = make_invoice(customer, total="80.00", due_in_days=5,
                           issue_date=TODAY - timedelta(days=20))
    _returned_direct_debit(customer, invoice)
    html = portal_client(customer).get("/portal/statement").get_data(as_text=True)
    lines = re.findall(r'data-kind="(\w+)" data-debit="([\d.]+)" data-credit="([\d.]+)" '
                       r'data-balance="(-?[\d.]+)"', html)
    # Invoiced 80, paid 80 (balance 0), taken back by the bank 80: 80 due again.
    assert [(kind, Decimal(debit), Decimal(credit), Decimal(balance))
            for kind, debit, credit, balance in lines] == [
        ("invoice", 80, 0, 80), ("payment", 0, 80, 0), ("returned", 80, 0, 80)]
    assert 'id="closing-balance" data-amount="80.00"' in html
    # A period starting after the return: the opening balance counts it.
    from app.accounts.statement import statement

    later = statement(customer, TODAY + timedelta(days=1), TODAY + timedelta(days=2))
    assert later.opening_balance == Decimal("80.00") and later.lines == []


def test_returned_direct_debit_notice_on_dashboard_and_invoice(portal_client):
    customer = make_customer(email="returnednotice@example.test", language="en",
                             payment_method="direct_debit")
    invoice = make_invoice(customer, total="80.00", due_in_days=5,
                           issue_date=TODAY - timedelta(days=20))
    other = make_invoice(customer, total="20.00", due_in_days=5)
    payment = _returned_direct_debit(customer, invoice)
    client = portal_client(customer)
    notice = f'id="returned-payment-{payment.id}"'
    dashboard = client.get("/portal/?lang=en").get_data(as_text=True)
    assert notice in dashboard
    assert f'href="/portal/invoices/{invoice.id}" data-invoice="{invoice.id}"' in dashboard
    paid_on = (TODAY - timedelta(days=10))
    from app.core.i18n import day

    with app_language("en"):
        expected = (f"Your direct debit of €80.00 on {day(paid_on)} was returned by your bank; "
                    "the invoice is open again.")
    assert expected in text_of_html(dashboard)
    assert notice in client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)
    # Only on the invoice it had paid.
    assert notice not in client.get(f"/portal/invoices/{other.id}").get_data(as_text=True)
    # In every language (the wording is translated with the other portal strings).
    for language in ("fr", "nl"):
        assert notice in client.get(f"/portal/?lang={language}").get_data(as_text=True)
    # Once the invoice is paid again, the notice has done its job.
    pay(customer, "80.00", days_ago=0, invoice_number=invoice.number)
    assert notice not in client.get("/portal/?lang=en").get_data(as_text=True)
    assert notice not in client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True)


def test_returned_payment_notice_is_only_for_its_customer(portal_client):
    customer = make_customer(email="returnedowner@example.test")
    invoice = make_invoice(customer, total="80.00", due_in_days=5,
                           issue_date=TODAY - timedelta(days=20))
    payment = _returned_direct_debit(customer, invoice)
    stranger = make_customer(email="stranger@example.test")
    html = portal_client(stranger).get("/portal/").get_data(as_text=True)
    assert f'id="returned-payment-{payment.id}"' not in html
    statement_html = portal_client(stranger).get("/portal/statement").get_data(as_text=True)
    assert 'data-kind="returned"' not in statement_html


def app_language(language: str):
    from flask_babel import force_locale

    return force_locale(language)
