"""The copy of a customer's data (PDF) names every field and code in the customer's language."""
from __future__ import annotations

import io
import re

import pytest
from flask_appbuilder import Model
from pypdf import PdfReader

from app.retention import subject
from app.retention.export_labels import FIELD_LABELS, INTERNAL_FIELDS, TABLE_FIELD_LABELS
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")


def _pdf_text(data: bytes) -> str:
    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text)


def test_a_dutch_customers_pdf_has_dutch_labels_and_codes():
    customer = rich_customer(name="Jan Peeters", language="nl", ended_on=None, age_days=40)
    text = _pdf_text(subject.export_pdf(customer))
    # Field labels, in Dutch.
    for dutch in ("Klantnummer", "Factuurnummer", "Uitgiftedatum", "Vervaldag",
                  "Rekeninghouder", "Onderwerp", "Gestructureerde mededeling",
                  "Openstaand bedrag"):
        assert dutch in text, dutch
    # Codes in words: the request is a "question" that is "closed", the account "retired",
    # the customer a "person" who speaks "nl".
    for dutch in ("Vraag", "Afgesloten", "Niet meer in gebruik", "Particulier", "Nederlands"):
        assert dutch in text, dutch
    # No raw column names or codes.
    for raw in ("issue date", "customer number", "open amount", "structured reference",
                "customer id", "due date", "body text", "sla due at", "changed fields",
                '"iban"', "retired_at", "customer_request"):
        assert raw not in text.lower(), raw
    assert "Jan Peeters" in text and "BE68539007547034" in text  # the data itself


def test_the_same_customer_in_french_gets_french_labels():
    customer = rich_customer(name="Marie Dupont", language="fr", ended_on=None, age_days=40)
    text = _pdf_text(subject.export_pdf(customer))
    assert "Numéro de client" in text or "Numéro client" in text
    assert "Vraag" not in text and "Klantnummer" not in text


def test_every_exported_column_has_a_label(app):
    """A column added to a table the export reads must get a label (or be internal)."""
    customer = rich_customer(name="Jan Peeters", language="nl", ended_on=None, age_days=40)
    subject.export_data(customer)  # the tables exist and export
    tables = subject._tables_with_customer() + [Model.metadata.tables["customer"]]
    names = {t.name for t in tables}
    tables += [t for t in Model.metadata.sorted_tables
               if t.name not in names and t.name not in subject.SKIPPED_TABLES
               and any(fk.column.table.name in names for fk in t.foreign_keys)]
    missing = sorted(f"{t.name}.{c.name}" for t in tables for c in t.c
                     if c.name not in subject.HIDDEN_COLUMNS and c.name not in INTERNAL_FIELDS
                     and c.name not in FIELD_LABELS and (t.name, c.name) not in TABLE_FIELD_LABELS)
    assert missing == []
