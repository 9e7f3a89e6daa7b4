"""E-invoicing test helpers: business customers in BE/NL/FR, approved credit notes, the kit."""
from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

from app.core.roles import ADMIN
from app.extensions import db
from app.invoices.models import InvoiceLine
from app.payments.outgoing.adjustments import approve_credit_note, propose_credit_note
from tests.helpers import make_customer, make_invoice, make_staff_user

KIT = Path(__file__).resolve().parents[2].parent / "shared" / "peppol"
VALIDATE = KIT / "validate"
EXAMPLES = KIT / "examples"

ADDRESSES = {
    "BE": {"vat_number": "BE0403170701", "address_line1": "Rue de la Loi 16",
           "postal_code": "1000", "city": "Bruxelles", "language": "fr"},
    "NL": {"vat_number": "NL004495445B01", "address_line1": "Keizersgracht 1",
           "postal_code": "1015 CJ", "city": "Amsterdam", "language": "nl"},
    "FR": {"vat_number": "FR40303265045", "address_line1": "12 rue de Rivoli",
           "postal_code": "75004", "city": "Paris", "language": "fr"},
}


def business(country: str = "BE", **fields):
    data = {"kind": "company", "country": country, "name": f"Société {country} SA",
            **ADDRESSES[country], **fields}
    return make_customer(**data)


def invoice_with_lines(customer, lines: list[tuple[str, str]]):
    """An invoice whose lines are (amount incl. VAT, VAT rate)."""
    total = sum(Decimal(amount) for amount, _rate in lines)
    invoice = make_invoice(customer, str(total))
    for position, (amount, rate) in enumerate(lines, start=1):
        db.session.add(InvoiceLine(invoice=invoice, position=position, description=f"Line {position}",
                                   quantity=Decimal(1), unit_price=Decimal(amount),
                                   vat_rate=Decimal(rate), amount=Decimal(amount)))
    db.session.commit()
    return invoice


def approved_credit_note(app, customer, amount, invoice=None, reason="Goodwill gesture"):
    admin = make_staff_user(app, ADMIN)
    note = propose_credit_note(customer, amount, reason, admin, invoice=invoice)
    approve_credit_note(note, admin)
    db.session.commit()
    return note


def kit_report(paths: list[Path]) -> dict:
    """The official validator's verdict on files (one call)."""
    run = subprocess.run([str(VALIDATE), "--json", *map(str, paths)], capture_output=True,
                         text=True, check=False)
    assert run.returncode in (0, 1), run.stderr
    return {Path(f["file"]).name: f for f in json.loads(run.stdout)["files"]}
