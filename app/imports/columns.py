"""Which column headers an ERP export may use for each field: the one alias table.

Headers are compared after ``normalise_header`` (lower case, accents and punctuation removed),
so "Numéro de client", "numero_de_client" and "NUMERO DE CLIENT" are the same header. The field
names themselves (CUSTOMER_FIELDS / INVOICE_FIELDS) are always accepted.
"""
from __future__ import annotations

import re
import unicodedata

from app.customers.services import CUSTOMER_FIELDS
from app.invoices.services import INVOICE_FIELDS

CUSTOMERS = "customers"
INVOICES = "invoices"
KINDS = (CUSTOMERS, INVOICES)

# field -> other names seen in English, Dutch and French exports (already normalised).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    CUSTOMERS: {
        "number": ("customer_number", "customer_no", "klantnummer", "klantnr",
                   "numero_de_client", "numero_client", "no_client"),
        "name": ("customer_name", "naam", "klantnaam", "nom", "raison_sociale"),
        "kind": ("type", "soort"),
        "vat_number": ("vat", "btw", "btw_nummer", "tva", "numero_de_tva"),
        "language": ("taal", "langue"),
        "country": ("land", "pays"),
        "email": ("e_mail", "mail", "courriel"),
        "phone": ("telephone", "telefoon", "tel", "gsm"),
        "contact_name": ("contact", "contactpersoon", "personne_de_contact"),
        "address_line1": ("address", "street", "adres", "straat", "adresse", "rue"),
        "postal_code": ("zip", "zip_code", "postcode", "code_postal"),
        "city": ("gemeente", "plaats", "ville", "localite", "commune"),
    },
    INVOICES: {
        "number": ("invoice_number", "invoice_no", "factuurnummer", "factuurnr",
                   "numero_de_facture", "numero_facture"),
        "customer_number": ("customer", "customer_no", "klantnummer", "klantnr",
                            "numero_de_client", "numero_client", "client"),
        "issue_date": ("invoice_date", "date", "factuurdatum", "datum", "date_de_facture",
                       "date_facture"),
        "due_date": ("vervaldag", "vervaldatum", "echeance", "date_d_echeance",
                     "date_echeance"),
        "total_amount": ("total", "amount", "bedrag", "totaal", "montant", "montant_total"),
        "currency": ("munt", "valuta", "devise"),
        "description": ("omschrijving", "libelle"),
        "structured_reference": ("ogm", "vcs", "structured_communication",
                                 "gestructureerde_mededeling", "communication_structuree"),
    },
}

FIELDS = {CUSTOMERS: CUSTOMER_FIELDS, INVOICES: INVOICE_FIELDS}
# A file must have these columns; clean_customer / clean_invoice say what else is wrong.
REQUIRED = {
    CUSTOMERS: ("number", "name"),
    INVOICES: ("number", "customer_number", "issue_date", "due_date", "total_amount"),
}


def normalise_header(header: str) -> str:
    """'Numéro de client ' -> 'numero_de_client'."""
    decomposed = unicodedata.normalize("NFKD", header.replace("\ufeff", "").strip().lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def header_map(kind: str) -> dict[str, str]:
    """normalised header -> field name, for one kind of file."""
    mapping = {field: field for field in FIELDS[kind]}
    for field, aliases in ALIASES[kind].items():
        for alias in aliases:
            mapping[alias] = field
    return mapping


def accepted_headers(kind: str) -> list[tuple[str, tuple[str, ...], bool]]:
    """(field, aliases, required) for the help shown next to the upload form."""
    return [(field, ALIASES[kind].get(field, ()), field in REQUIRED[kind])
            for field in FIELDS[kind]]
