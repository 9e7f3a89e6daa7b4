"""EPC069-12 "scan to pay" payloads and QR codes, and the creditor data they take from settings."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.models import Setting
from app.core.settings import (
    company_details,
    get_setting,
    is_customised,
    reset_setting,
    set_setting,
)
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices import epc
from tests.helpers import make_customer, make_invoice

CREDITOR = {"name": "CreditDesk Demo SA", "iban": "BE04 0682 4613 7931", "bic": "gkccbebb"}


def payload_lines(**fields) -> list[str]:
    return epc.epc_payload(**{**CREDITOR, **fields}).split("\n")


def field_errors(**fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        epc.epc_payload(**{**CREDITOR, **fields})
    return caught.value.errors


# --- payload --------------------------------------------------------------------------------

def test_payload_line_by_line_for_an_invoice():
    lines = payload_lines(amount=Decimal("125.5"), reference="+++010/8068/17183+++",
                          info="Invoice INV-1")
    assert lines == [
        "BCD",  # service tag
        "002",  # version: BIC optional
        "1",  # character set UTF-8
        "SCT",  # SEPA credit transfer
        "GKCCBEBB",  # BIC, upper case
        "CreditDesk Demo SA",
        "BE04068246137931",  # IBAN without spaces
        "EUR125.50",  # dot, two decimals, no thousands separator
        "",  # purpose: empty line kept
        "010806817183",  # the OGM as 12 digits, no +++ or slashes
        "",  # free text: empty (exclusive with the reference), line kept
        "Invoice INV-1",
    ]


def test_nothing_follows_the_last_populated_element():
    payload = epc.epc_payload(**CREDITOR, amount="10", reference="RF18 5390 0754 7034")
    assert not payload.endswith("\n")
    assert payload.split("\n")[-1] == "RF18539007547034"
    assert len(payload.split("\n")) == 10


def test_free_text_keeps_the_empty_reference_line():
    lines = payload_lines(amount="1234.56", text="Facture 2024-17 / client C001")
    assert lines[7:] == ["EUR1234.56", "", "", "Facture 2024-17 / client C001"]


def test_bic_may_be_empty_in_version_002():
    lines = payload_lines(bic="", amount="5", reference="010806817183")
    assert lines[4] == ""
    assert lines[6] == "BE04068246137931"


def test_line_breaks_inside_values_cannot_shift_lines():
    lines = payload_lines(name="CreditDesk\nDemo SA", amount="5", text="a\nb")
    assert lines[5] == "CreditDesk Demo SA"
    assert lines[10] == "a b"
    assert len(lines) == 11


@pytest.mark.parametrize("amount, shown", [
    ("0.01", "EUR0.01"), (Decimal("999999999.99"), "EUR999999999.99"), (125, "EUR125.00"),
    ("125.5", "EUR125.50"),
])
def test_amounts_at_and_inside_the_limits(amount, shown):
    assert payload_lines(amount=amount, reference="010806817183")[7] == shown


@pytest.mark.parametrize("amount", ["0", "0.00", "-5", "1000000000.00", "12.345", "abc", None,
                                    "NaN", "Infinity"])
def test_amounts_outside_the_limits_are_refused(amount):
    errors = field_errors(amount=amount, reference="010806817183")
    assert list(errors) == ["amount"]
    assert errors["amount"][0]


@pytest.mark.parametrize("iban", [
    "BE04068246137932",  # ISO check digits wrong
    "BE74068246137932",  # ISO check digits right, Belgian national check digits wrong
    "BE0406824613793",  # too short for a Belgian account
    "XX04068246137931",  # no such country
    "",
])
def test_invalid_ibans_are_refused_with_the_value_in_the_message(iban):
    errors = field_errors(iban=iban, amount="10", reference="010806817183")
    assert list(errors) == ["iban"]
    assert iban in errors["iban"][0]


def test_foreign_ibans_are_accepted():
    assert payload_lines(iban="NL91 ABNA 0417 1643 00", bic="ABNANL2A", amount="1",
                         reference="RF18539007547034")[6] == "NL91ABNA0417164300"


@pytest.mark.parametrize("bic", ["GKCCBE", "GKCC1EBB", "GKCCBEBBX"])
def test_invalid_bics_are_refused(bic):
    assert list(field_errors(bic=bic, amount="10", reference="010806817183")) == ["bic"]


def test_reference_must_be_a_valid_ogm_or_rf():
    assert list(field_errors(amount="1", reference="+++010/8068/17184+++")) == ["reference"]
    assert list(field_errors(amount="1", reference="RF19539007547034")) == ["reference"]


def test_reference_and_free_text_are_exclusive():
    errors = field_errors(amount="1", reference="010806817183", text="Invoice 17")
    assert "text" in errors


def test_every_wrong_field_is_named_at_once():
    errors = field_errors(name="", iban="BE00", bic="X", amount="0", purpose="TOOLONG",
                          info="i" * 71)
    assert set(errors) == {"name", "iban", "bic", "amount", "purpose", "info"}


def test_length_limits():
    assert payload_lines(name="N" * 70, amount="1", text="T" * 140)
    assert payload_lines(amount="1", reference="010806817183", info="I" * 70)
    assert list(field_errors(name="N" * 71, amount="1", reference="010806817183")) == ["name"]
    assert list(field_errors(amount="1", text="T" * 141)) == ["text"]


def largest_payload(extra: int = 0) -> str:
    """A payload of exactly 331 (+ extra) bytes: the field limits together allow more."""
    fields = {**CREDITOR, "name": "N" * 70, "amount": "999999999.99", "purpose": "SUPP",
              "text": "T" * 140}
    used = len(epc.epc_payload(**fields).encode("utf-8")) + 1  # + the line break before info
    return epc.epc_payload(**fields, info="I" * (epc.MAX_PAYLOAD_BYTES - used + extra))


def test_payload_is_limited_to_331_bytes_counted_in_utf8():
    assert len(largest_payload().encode("utf-8")) == 331
    with pytest.raises(ValidationError) as caught:
        largest_payload(extra=1)
    assert "331" in caught.value.errors["text"][0]
    # Within every field limit, but two-byte letters make it too long.
    errors = field_errors(name="é" * 70, amount="1", text="é" * 140)
    assert "text" in errors


# --- QR code --------------------------------------------------------------------------------

def test_qr_code_is_level_m_and_at_most_version_13():
    qr = epc.make_qr(largest_payload())
    assert qr.error == "M"
    assert qr.version == 13  # 331 bytes is exactly what version 13-M holds
    small = epc.make_qr(epc.epc_payload(**CREDITOR, amount="1", reference="010806817183"))
    assert small.error == "M"  # not boosted to a higher level, as the guidelines require
    assert small.version < 13


def test_qr_as_svg_and_png_for_web_pages():
    qr = epc.make_qr(epc.epc_payload(**CREDITOR, amount="1", reference="010806817183"))
    svg = epc.qr_svg(qr)
    assert b"<svg" in svg and b"http://" not in svg.replace(b"http://www.w3.org", b"")
    assert epc.qr_png(qr).startswith(b"\x89PNG\r\n\x1a\n")


def test_dark_module_runs_cover_exactly_the_dark_modules():
    qr = epc.make_qr(epc.epc_payload(**CREDITOR, amount="1", reference="010806817183"))
    size, runs = epc.dark_module_runs(qr)
    matrix = [list(row) for row in qr.matrix_iter(scale=1, border=0)]
    assert size == len(matrix) == qr.symbol_size(border=0)[0]
    drawn = {(run.row, run.column + i) for run in runs for i in range(run.length)}
    dark = {(r, c) for r, row in enumerate(matrix) for c, value in enumerate(row) if value}
    assert drawn == dark
    # The top-left finder pattern: a 7-module dark line, then a light one.
    assert runs[0].row == 0 and runs[0].column == 0 and runs[0].length == 7


# --- for an invoice, with the creditor from settings -----------------------------------------

def test_invoice_payload_uses_the_company_settings_and_the_open_amount():
    customer = make_customer(language="fr", country="BE")
    invoice = make_invoice(customer, total="1234.56")
    lines = epc.invoice_payload(invoice).split("\n")
    assert lines[5:8] == ["CreditDesk Demo SA", "BE04068246137931", "EUR1234.56"]
    assert lines[9] == invoice.structured_reference  # Belgian customer: the OGM
    assert lines[11] == f"Facture {invoice.number}"  # the note the bank shows, in French


def test_the_note_in_the_qr_speaks_the_customers_language_not_the_viewers(app):
    invoice = make_invoice(make_customer(language="nl", country="BE"), total="10.00")
    with app.test_request_context("/?lang=en"):
        assert epc.invoice_payload(invoice).split("\n")[11] == f"Factuur {invoice.number}"

    set_setting("company.name", "Brasserie Lambic SRL")
    set_setting("company.iban", "BE68 5390 0754 7034")
    set_setting("company.bic", "")
    db.session.commit()
    lines = epc.invoice_payload(invoice).split("\n")
    assert lines[4:7] == ["", "Brasserie Lambic SRL", "BE68539007547034"]


def test_customers_outside_belgium_get_the_rf_reference():
    customer = make_customer(language="nl", country="NL")
    invoice = make_invoice(customer, total="50")
    assert epc.invoice_payload(invoice).split("\n")[9] == invoice.rf_reference


def test_no_payload_when_nothing_is_to_be_paid():
    invoice = make_invoice(make_customer(), total="50")
    invoice.open_amount, invoice.status = Decimal("0.00"), "paid"
    assert epc.invoice_payload(invoice) is None
    assert epc.invoice_qr(invoice) is None
    invoice.open_amount, invoice.status = Decimal("50.00"), "cancelled"
    assert epc.invoice_payload(invoice) is None


# --- the settings registry behind it ----------------------------------------------------------

def test_settings_fall_back_to_their_defaults():
    assert get_setting("company.iban") == "BE04068246137931"
    assert not is_customised("company.iban")
    details = company_details()
    assert details["name"] == "CreditDesk Demo SA" and details["bic"] == "GKCCBEBB"
    assert details["address"].splitlines()[0] == "Avenue Louise 54"
    with pytest.raises(KeyError):
        get_setting("company.nonexistent")


def test_setting_a_value_checks_it_and_stores_it_compact():
    assert set_setting("company.iban", " be68 5390 0754 7034 ") == "BE68539007547034"
    db.session.commit()
    assert get_setting("company.iban") == "BE68539007547034"
    assert is_customised("company.iban")
    assert set_setting("company.address", "Rue Haute 1 \r\n\r\n 1000 Bruxelles ") == \
        "Rue Haute 1\n1000 Bruxelles"
    reset_setting("company.iban")
    db.session.commit()
    assert get_setting("company.iban") == "BE04068246137931"


@pytest.mark.parametrize("key, value", [
    ("company.iban", "BE68 5390 0754 7035"), ("company.iban", ""), ("company.bic", "NOTABIC"),
    ("company.email", "billing at example"), ("company.name", "   "),
])
def test_invalid_setting_values_are_refused_and_nothing_is_stored(key, value):
    with pytest.raises(ValidationError) as caught:
        set_setting(key, value)
    assert list(caught.value.errors) == [key]
    db.session.commit()
    assert db.session.query(Setting).count() == 0


def test_a_hand_edited_invalid_iban_is_never_replaced_by_the_demo_default():
    db.session.add(Setting(key="company.iban", value="BE00 1234", category="company"))
    db.session.commit()
    assert get_setting("company.iban") == "BE00 1234"
    invoice = make_invoice(make_customer(), total="10")
    with pytest.raises(ValidationError):
        epc.invoice_payload(invoice)
