"""Factur-X for French business customers: the credit note's PDF with its EN 16931 CII XML.

Built with the maintained ``factur-x`` library: the Peppol UBL we already produce is read into
its EN 16931 business terms, written as Cross Industry Invoice XML (level EN 16931, checked
against the official Factur-X XSD by the library, and its "base" rule checks), then embedded into
the credit note's PDF as ``factur-x.xml`` (PDF/A-3 attachment with the XMP metadata).
"""
from __future__ import annotations

import facturx
from flask_babel import gettext as _

from app.core.validation import ValidationError
from app.einvoicing.outgoing import credit_note_data, credit_note_xml
from app.einvoicing.ubl_out import build_credit_note
from app.invoices.models import CreditNote

LEVEL = "en16931"


def facturx_pdf(note: CreditNote) -> bytes:
    """The Factur-X PDF of a credit note to a French business. Raises ValidationError."""
    if (note.customer.country or "").upper() != "FR":
        raise ValidationError({"customer": _(
            "Factur-X is for French business customers; customer %(customer)s is not one.",
            customer=note.customer.number)})
    credit_note_xml(note)  # the same refusals as the Peppol document (person, not approved...)
    data = credit_note_data(note)
    fields = facturx.parse_ubl_cii_xml(build_credit_note(data), check_xsd=False)
    fields.setdefault("BT-72", data.issue_date)  # the CII delivery block may not be empty
    try:
        cii = facturx.generate_cii_xml(fields, level=LEVEL)
        return facturx.generate_from_binary(data.pdf, cii, flavor="factur-x", level=LEVEL,
                                            check_xsd=True, lang=note.customer.language)
    except Exception as refused:  # the library raises plain Exception on a failed check
        raise ValidationError({"facturx": [str(refused)[:500]]}) from refused
