"""Customer rules: what a valid customer is, create-or-update by ERP number, balances."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, literal, select
from stdnum.be import vat as be_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import tva as fr_tva
from stdnum.nl import btw as nl_btw

from app.core import validation as v
from app.core.models import ZERO
from app.customers.models import (
    COUNTRIES,
    CUSTOMER_KINDS,
    DELIVERY_CHANNELS,
    LANGUAGES,
    LEGAL_STATUSES,
    PAYMENT_METHODS,
    Address,
    BankAccount,
    Contact,
    Customer,
)
from app.extensions import db
from app.invoices.models import CreditNote, Invoice, invoice_is_open

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{6,20}$")
VAT_MODULES = {"BE": be_vat, "NL": nl_btw, "FR": fr_tva}

# Columns an import or the API may set; the ERP's customer number is the key.
CUSTOMER_FIELDS = ("number", "name", "kind", "vat_number", "language", "country", "email",
                   "phone", "delivery_channel", "sms_reminders", "payment_method",
                   "preferred_payment_day", "legal_status", "national_number",
                   "contact_name", "address_line1",
                   "address_line2", "postal_code", "city")


def clean_customer(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one customer record; raises ValidationError naming every wrong field."""
    errors = v.Errors()
    clean: dict[str, Any] = {
        "number": v.text(data, "number", errors, required=True, max_length=40),
        "name": v.text(data, "name", errors, required=True),
        "kind": v.choice(data, "kind", errors, CUSTOMER_KINDS, default="person"),
        "language": v.choice(data, "language", errors, LANGUAGES, default="fr"),
        "country": v.choice(data, "country", errors, COUNTRIES, default="BE"),
        "delivery_channel": v.choice(data, "delivery_channel", errors, DELIVERY_CHANNELS,
                                     default="email"),
        "payment_method": v.choice(data, "payment_method", errors, PAYMENT_METHODS,
                                   default="transfer"),
        "legal_status": v.choice(data, "legal_status", errors, LEGAL_STATUSES, default="none"),
        "sms_reminders": v.boolean(data, "sms_reminders", errors) or False,
        "preferred_payment_day": v.integer(data, "preferred_payment_day", errors, minimum=1,
                                           maximum=31),
        "email": v.text(data, "email", errors),
        "phone": v.text(data, "phone", errors, max_length=32),
        "vat_number": v.text(data, "vat_number", errors, max_length=20),
        "national_number": v.text(data, "national_number", errors, max_length=20),
        "contact_name": v.text(data, "contact_name", errors),
        "address_line1": v.text(data, "address_line1", errors),
        "address_line2": v.text(data, "address_line2", errors),
        "postal_code": v.text(data, "postal_code", errors, max_length=16),
        "city": v.text(data, "city", errors, max_length=100),
    }
    if isinstance(data.get("country"), str):
        clean["country"] = data["country"].strip().upper() or "BE"
        if clean["country"] not in COUNTRIES and "country" not in errors:
            errors.add("country", _("Must be one of: %(choices)s.", choices=", ".join(COUNTRIES)))
    if clean["email"] and not EMAIL.match(clean["email"]):
        errors.add("email", _("Not a valid e-mail address."))
    if clean["phone"] and not PHONE.match(clean["phone"]):
        errors.add("phone", _("Not a valid phone number."))
    if clean["vat_number"]:
        clean["vat_number"] = _clean_vat(clean["vat_number"], clean["country"], errors)
    if clean["national_number"]:
        clean["national_number"] = clean_national_number(clean["national_number"], errors)
    has_address = any(clean[f] for f in ("address_line1", "postal_code", "city"))
    if has_address:
        for field in ("address_line1", "postal_code", "city"):
            if not clean[field]:
                errors.add(field, _("An address needs a street, a postal code and a city."))
    errors.raise_if_any()
    # Which fields the sender actually gave: an update leaves the others as they are, so a
    # file or API call without an e-mail column does not wipe the e-mails we have.
    clean["provided"] = frozenset(key for key in data if key in CUSTOMER_FIELDS)
    return clean


def _clean_vat(raw: str, country: str | None, errors: v.Errors) -> str | None:
    compact = re.sub(r"[\s.\-]", "", raw).upper()
    prefix = compact[:2] if compact[:2].isalpha() else (country or "BE")
    module = VAT_MODULES.get(prefix)
    if module is None:
        return compact  # other EU countries: kept as given
    try:
        return prefix + module.validate(compact)
    except StdnumError:
        errors.add("vat_number", _("Not a valid %(country)s VAT number.", country=prefix))
        return None


def upsert_customer(clean: Mapping[str, Any]) -> tuple[Customer, bool]:
    """Create the customer, or update the one with the same ERP number. Caller commits."""
    customer = db.session.scalar(select(Customer).where(Customer.number == clean["number"]))
    return _upsert_into(customer, clean)


def upsert_customers(cleans: list[Mapping[str, Any]]) -> list[tuple[Customer, bool]]:
    """upsert_customer for a batch (a bulk import's new buyers), set-wise: the existing
    customers (with their contacts and addresses) are read by number in a few queries, not one
    per customer; the rules are upsert_customer's own. One result per clean, in order; a number
    given twice is created once (the later clean updates it). Caller flushes and commits."""
    from sqlalchemy.orm import selectinload

    numbers = sorted({clean["number"] for clean in cleans})
    found: dict[str, Customer] = {}
    for start in range(0, len(numbers), 500):
        found.update((customer.number, customer) for customer in db.session.scalars(
            select(Customer).where(Customer.number.in_(numbers[start:start + 500])).options(
                selectinload(Customer.contacts), selectinload(Customer.addresses))))
    results = []
    for clean in cleans:
        customer, created = _upsert_into(found.get(clean["number"]), clean)
        found[clean["number"]] = customer
        results.append((customer, created))
    return results


def _upsert_into(customer: Customer | None, clean: Mapping[str, Any]) -> tuple[Customer, bool]:
    """upsert_customer's rules on the customer found by number (None: a new one)."""
    created = customer is None
    if created:
        customer = Customer(number=clean["number"], balance=ZERO)
        db.session.add(customer)
    provided = clean.get("provided")
    for field in ("name", "kind", "language", "country", "delivery_channel", "payment_method",
                  "legal_status", "sms_reminders", "preferred_payment_day", "email", "phone",
                  "vat_number", "national_number"):
        if created or provided is None or field in provided:
            setattr(customer, field, clean[field])
    if clean.get("contact_name"):
        contact = next((c for c in customer.contacts if c.role == "billing"), None)
        if contact is None:
            contact = Contact(role="billing", name=clean["contact_name"])
            customer.contacts.append(contact)
        contact.name, contact.email, contact.phone = (clean["contact_name"], clean["email"],
                                                      clean["phone"])
    if clean.get("address_line1"):
        address = next((a for a in customer.addresses if a.kind == "billing"), None)
        if address is None:
            address = Address(kind="billing")
            customer.addresses.append(address)
        address.line1, address.line2 = clean["address_line1"], clean["address_line2"]
        address.postal_code, address.city = clean["postal_code"], clean["city"]
        address.country = clean["country"]
    return customer, created


# Money received and not allocated yet lowers what a customer owes. That money is payments'
# table, a layer above this one: app.payments.models registers how to sum it when it is imported
# (app/models.py imports every model, in every process); balance_parts asks the registered
# builder instead of importing payments.
_unallocated_money: Callable[[Callable[[Any], Any]], Any] | None = None


def register_unallocated_money(builder: Callable[[Callable[[Any], Any]], Any]) -> None:
    """``builder(of_customer)``: a SELECT of one sum (0 when none), filtered by
    ``of_customer(<its customer id column>)``; the money a customer paid and that no invoice
    has taken yet."""
    global _unallocated_money
    _unallocated_money = builder


def balance_parts(customer_id: Any) -> tuple[Any, Any, Any]:
    """What a customer owes, net, is the open amount of their open invoices, less their open
    credit notes, less money received from them and not allocated yet (an overpayment, a
    payment made before the invoice arrived): three scalar subqueries for ``customer_id`` (a
    value, a bind parameter or a correlated column such as ``Customer.id``; None: the sums
    over every customer, i.e. the whole book).

    The one place of this rule: compute_balance, the stored balance (payments.consequences),
    the portal's dashboard and the aging report's net balance use these parts."""
    def of_customer(column):
        return column.is_not(None) if customer_id is None else column == customer_id

    invoices = select(func.coalesce(func.sum(Invoice.open_amount), 0)).where(
        of_customer(Invoice.customer_id), invoice_is_open())
    credit_notes = select(func.coalesce(func.sum(CreditNote.open_amount), 0)).where(
        of_customer(CreditNote.customer_id), CreditNote.status == "open")
    unallocated = (_unallocated_money(of_customer) if _unallocated_money is not None
                   else select(literal(0)))
    return (invoices.scalar_subquery(), credit_notes.scalar_subquery(),
            unallocated.scalar_subquery())


def net_balance(customer_id: Any) -> Any:
    """The SQL expression of the balance (see balance_parts)."""
    invoices, credit_notes, unallocated = balance_parts(customer_id)
    return invoices - credit_notes - unallocated


def compute_balance(customer_id: int) -> Decimal:
    """What the customer owes, net (negative: we owe them). See balance_parts."""
    value = db.session.scalar(select(net_balance(customer_id)))
    return Decimal(value or 0).quantize(Decimal("0.01"))


def refresh_balance(customer: Customer) -> Decimal:
    """Recompute the denormalised balance after invoices, payments or credit notes changed."""
    db.session.flush()
    customer.balance = compute_balance(customer.id)
    return customer.balance


def find_by_number(number: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(Customer.number == number))


# --- national number and IBAN lookups (encrypted at rest: app/core/crypto.py) ---------------

def clean_national_number(raw: str, errors: v.Errors) -> str | None:
    """A Belgian national register number (rijksregisternummer) as 11 digits, or an error.

    YYMMDD + serial + check digits: 97 - (first 9 digits mod 97), with a 2 in front of the
    9 digits for people born from 2000 (python-stdnum's be.nn checks both).
    """
    from stdnum.be import nn as be_nn

    try:
        return be_nn.validate(raw)
    except StdnumError:
        errors.add("national_number", _("Not a valid Belgian national register number."))
        return None


def find_bank_accounts_by_iban(iban: str | None, *, include_retired: bool = True
                               ) -> list[BankAccount]:
    """The bank accounts with this IBAN, however it is typed (spaces, lower case).

    IBANs are encrypted, so the search compares the keyed hash of the normalised IBAN.
    """
    from app.core.crypto import iban_hash

    digest = iban_hash(iban)
    if digest is None:
        return []
    query = select(BankAccount).where(BankAccount.iban_hash == digest)
    if not include_retired:
        query = query.where(BankAccount.status != "retired")
    return list(db.session.scalars(query.order_by(BankAccount.id)))


def customer_ids_by_iban(ibans, *, include_retired: bool = True) -> dict[str, set[int]]:
    """For many IBANs at once (as given): the customers with a bank account of that IBAN."""
    from app.core.crypto import iban_hash

    by_hash: dict[str, list[str]] = {}
    for iban in set(ibans) - {None, ""}:
        digest = iban_hash(iban)
        if digest is not None:
            by_hash.setdefault(digest, []).append(iban)
    found: dict[str, set[int]] = {}
    for digest, owners in customer_ids_by_iban_hash(
            by_hash, include_retired=include_retired).items():
        for iban in by_hash[digest]:
            found.setdefault(iban, set()).update(owners)
    return found


def customer_ids_by_iban_hash(hashes, *, include_retired: bool = True) -> dict[str, set[int]]:
    """For many IBAN lookup hashes at once: the customers with a bank account of that IBAN
    (statement lines and payments keep the same keyed hash as bank accounts)."""
    from app.core.sets import where_in

    found: dict[str, set[int]] = {}
    for condition in where_in(BankAccount.iban_hash, sorted(set(hashes) - {None, ""})):
        query = select(BankAccount.iban_hash, BankAccount.customer_id).where(condition)
        if not include_retired:
            query = query.where(BankAccount.status != "retired")
        for digest, customer_id in db.session.execute(query):
            found.setdefault(digest, set()).add(customer_id)
    return found
