"""Find a customer in one step: one box for name, number, e-mail, phone, IBAN, invoice number,
structured communication (OGM) or RF reference, typed any way people type them.

Each key is tried with an exact, indexed lookup first (customer and invoice numbers, OGM and RF
are unique columns, the IBAN its keyed hash, e-mails lower(email), phones the phone columns:
migration search_0005). Only a text that matched none of those falls back to a name search
(contains, case-insensitive), the one query that may read many rows: on PostgreSQL a trigram
index serves it from three characters on. An e-mail address is never looked for in names. A
single exact hit can open the customer's 360° page at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from app.customers.models import BankAccount, Contact, Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.references import InvalidReference, normalise_ogm, normalise_rf

MATCH_LABELS = {
    "number": _l("Customer number"),
    "invoice": _l("Invoice number"),
    "ogm": _l("Structured communication"),
    "rf": _l("RF reference"),
    "iban": _l("IBAN"),
    "email": _l("E-mail"),
    "phone": _l("Phone"),
    "name": _l("Name"),
}
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,24}$")
MAX_QUERY = 100


@dataclass
class Hit:
    customer: Customer
    matched_on: str  # a key of MATCH_LABELS
    detail: str = ""  # e.g. the invoice number that matched

    @property
    def exact(self) -> bool:
        return self.matched_on != "name"

    @property
    def label(self) -> str:
        return str(MATCH_LABELS[self.matched_on])


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-/]", "", text).upper()


def phone_candidates(text: str, country: str = "BE") -> list[str]:
    """The forms a phone number may be stored in: as typed, compact, and international."""
    if not _PHONE.match(text):
        return []
    digits = re.sub(r"\D", "", text)
    if len(digits) < 8:
        return []
    found = {text.strip(), digits}
    if text.strip().startswith("+"):
        found.add("+" + digits)
    elif digits.startswith("00"):
        found.add("+" + digits[2:])
    elif digits.startswith("0"):
        prefixes = {"BE": "32", "NL": "31", "FR": "33", "LU": "352", "DE": "49"}
        for prefix in prefixes.values():
            found.add(f"+{prefix}{digits[1:]}")
    return sorted(found)


def _iban_accounts(compact: str) -> list[int]:
    """Customer ids holding this IBAN (through the hashed lookup when the model has one)."""
    try:
        from app.customers.services import find_bank_accounts_by_iban  # added with iban_hash
    except ImportError:
        find_bank_accounts_by_iban = None
    if find_bank_accounts_by_iban is not None:
        return [account.customer_id for account in find_bank_accounts_by_iban(compact)]
    return list(db.session.scalars(select(BankAccount.customer_id).where(
        func.upper(func.replace(BankAccount.iban, " ", "")) == compact)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_customers(query: str | None, limit: int = 20) -> list[Hit]:
    """Customers matching ``query``: exact keys (in the order of MATCH_LABELS), else names."""
    text = (query or "").strip()[:MAX_QUERY]
    if not text:
        return []
    hits: list[tuple[int, str, str]] = []  # (customer id, matched_on, detail)
    compact = _compact(text)
    digits = re.sub(r"\D", "", text)

    # Customer number, as typed (ERP numbers are kept exactly).
    for cid in db.session.scalars(select(Customer.id).where(
            or_(Customer.number == text, Customer.number == compact))):
        hits.append((cid, "number", ""))
    # Invoice number.
    for cid, number in db.session.execute(select(Invoice.customer_id, Invoice.number).where(
            or_(Invoice.number == text, Invoice.number == compact)).limit(5)):
        hits.append((cid, "invoice", number))
    # Structured communication: +++123/4567/89012+++, ***...***, spaces or none.
    if len(digits) == 12 and re.fullmatch(r"[\d\s+*/.\-]+", text):
        try:
            ogm = normalise_ogm(digits)
        except InvalidReference:
            ogm = None
        if ogm:
            for cid, number in db.session.execute(select(Invoice.customer_id, Invoice.number)
                                                  .where(Invoice.structured_reference == ogm)):
                hits.append((cid, "ogm", number))
            hits.extend(_installment_hits(ogm))
    # RF creditor reference, with or without its spaces.
    if compact.startswith("RF"):
        try:
            rf = normalise_rf(compact)
        except InvalidReference:
            rf = None
        if rf:
            for cid, number in db.session.execute(select(Invoice.customer_id, Invoice.number)
                                                  .where(Invoice.rf_reference == rf)):
                hits.append((cid, "rf", number))
    # IBAN, typed in groups of four, lower case or not.
    if _IBAN.match(compact):
        for cid in _iban_accounts(compact):
            hits.append((cid, "iban", compact))
    # E-mail of the customer or of one of its contacts.
    if "@" in text:
        email = text.lower()
        for cid in db.session.scalars(select(Customer.id).where(
                func.lower(Customer.email) == email).limit(limit)):
            hits.append((cid, "email", email))
        for cid in db.session.scalars(select(Contact.customer_id).where(
                func.lower(Contact.email) == email).limit(limit)):
            hits.append((cid, "email", email))
    # Phone of the customer or of a contact.
    phones = phone_candidates(text)
    if phones:
        for cid in db.session.scalars(select(Customer.id).where(Customer.phone.in_(phones))
                                      .limit(limit)):
            hits.append((cid, "phone", text))
        for cid in db.session.scalars(select(Contact.customer_id).where(Contact.phone.in_(phones))
                                      .limit(limit)):
            hits.append((cid, "phone", text))
    # Otherwise: the name contains the text.
    if not hits and len(text) >= 2 and "@" not in text:
        pattern = f"%{_escape_like(text.lower())}%"
        for cid in db.session.scalars(
                select(Customer.id).where(func.lower(Customer.name).like(pattern, escape="\\"))
                .order_by(Customer.name, Customer.id).limit(limit)):
            hits.append((cid, "name", ""))
    return _load(hits, limit)


def _installment_hits(ogm: str) -> list[tuple[int, str, str]]:
    """A payment plan instalment's structured communication leads to the plan's customer."""
    try:
        from app.requests.models import Installment, PaymentPlan
    except ImportError:  # pragma: no cover
        return []
    return [(cid, "ogm", "") for cid in db.session.scalars(
        select(PaymentPlan.customer_id).join(Installment, Installment.plan_id == PaymentPlan.id)
        .where(Installment.structured_reference == ogm))]


def _load(hits: list[tuple[int, str, str]], limit: int) -> list[Hit]:
    seen: dict[int, tuple[str, str]] = {}
    for cid, matched_on, detail in hits:
        if cid is not None and cid not in seen:
            seen[cid] = (matched_on, detail)
    ids = list(seen)[:limit]
    if not ids:
        return []
    customers = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    return [Hit(customers[cid], *seen[cid]) for cid in ids if cid in customers]
