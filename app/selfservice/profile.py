"""My details: address, billing and reminder contacts, e-mail, phone, language; and their locks.

Shared by the portal (the customer) and the back office (staff, ``by_staff=True``):

* Name and VAT number are locked for the customer once an invoice exists (they are printed on
  invoices; a change needs a person to look at it). Staff can still change them.
* Phones are stored in E.164 (+32470123456), checked with ``phonenumbers``.
* A new e-mail address (the customer's or a contact's) is only used once it is confirmed from
  its own mailbox: a single-use link, stored as its SHA-256, valid for a setting's hours. Then the
  old address is told. Until then the old address stays in use (and keeps signing in).

Every change applied is recorded as an auto-approved "data_change" request (the customer's
history); nothing is changed when any field is wrong.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app.core import validation as v
from app.core.models import utcnow
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.customers.models import COUNTRIES, LANGUAGES, Address, Contact, Customer
from app.customers.selfservice_models import EmailChange
from app.extensions import db
from app.invoices.models import Invoice

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOCKED_WITH_INVOICES = ("name", "vat_number")

EMAIL_CHANGE_HOURS = register_setting(
    "customers.email_change_hours", 24, "hours",
    _l("A link confirming a new e-mail address is valid for (hours)"), "customers").key

# The form's fields: customer columns, billing address, and the two contacts.
ADDRESS_FIELDS = ("address_line1", "address_line2", "postal_code", "city", "country")
CONTACT_ROLES_EDITED = ("billing", "reminder")
DETAIL_FIELDS = ("name", "vat_number", "email", "phone", "language", *ADDRESS_FIELDS,
                 "billing_name", "billing_email", "billing_phone",
                 "reminder_name", "reminder_email", "reminder_phone")


@dataclass
class DetailsChange:
    changed: list[str] = field(default_factory=list)
    pending_emails: list[str] = field(default_factory=list)  # new addresses awaiting a click


# --- rules -----------------------------------------------------------------------------------

def has_invoices(customer: Customer) -> bool:
    return bool(customer.id) and db.session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.customer_id == customer.id)) > 0


def locked_fields(customer: Customer, by_staff: bool = False) -> frozenset[str]:
    """Fields the customer may not change themselves (staff may)."""
    if by_staff or not has_invoices(customer):
        return frozenset()
    return frozenset(LOCKED_WITH_INVOICES)


def clean_phone(value: str | None, country: str | None = "BE", field_name: str = "phone",
                errors: v.Errors | None = None) -> str | None:
    """The phone number in E.164 (+32470123456), None when empty; refused when not a real
    number. National numbers are read in the customer's country."""
    raw = (value or "").strip()
    if not raw:
        return None
    try:
        parsed = phonenumbers.parse(raw, (country or "BE").upper())
        valid = phonenumbers.is_valid_number(parsed)
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        message = _("Not a valid phone number. Write it with the country code, "
                    "e.g. +32 470 12 34 56.")
        if errors is None:
            raise ValidationError({field_name: message})
        errors.add(field_name, message)
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def contact(customer: Customer, role: str) -> Contact | None:
    found = [c for c in customer.contacts if c.role == role]
    return min(found, key=lambda c: c.id or 0) if found else None


def billing_address(customer: Customer) -> Address | None:
    found = [a for a in customer.addresses if a.kind == "billing"]
    return min(found, key=lambda a: a.id or 0) if found else None


def details_of(customer: Customer) -> dict[str, Any]:
    """The current values, as the form shows them."""
    address = billing_address(customer)
    values: dict[str, Any] = {
        "name": customer.name, "vat_number": customer.vat_number or "",
        "email": customer.email or "", "phone": customer.phone or "",
        "language": customer.language,
        "address_line1": address.line1 if address else "",
        "address_line2": (address.line2 or "") if address else "",
        "postal_code": address.postal_code if address else "",
        "city": address.city if address else "",
        "country": address.country if address else customer.country,
    }
    for role in CONTACT_ROLES_EDITED:
        person = contact(customer, role)
        values[f"{role}_name"] = person.name if person else ""
        values[f"{role}_email"] = (person.email or "") if person else ""
        values[f"{role}_phone"] = (person.phone or "") if person else ""
    return values


def pending_email_changes(customer: Customer, now: datetime | None = None) -> list[EmailChange]:
    now = now or utcnow()
    return list(db.session.scalars(
        select(EmailChange).where(EmailChange.customer_id == customer.id,
                                  EmailChange.used_at.is_(None), EmailChange.expires_at > now)
        .order_by(EmailChange.id)))


# --- cleaning --------------------------------------------------------------------------------

def _clean(customer: Customer, data: Mapping[str, Any], locked: frozenset[str]
           ) -> dict[str, Any]:
    from app.customers.services import _clean_vat

    errors = v.Errors()
    current = details_of(customer)
    given = {k: data[k] for k in DETAIL_FIELDS if k in data}
    clean: dict[str, Any] = {}
    for name in locked:
        if name in given and (str(given[name] or "").strip() != str(current[name] or "")):
            errors.add(name, _("This can no longer be changed here because invoices were "
                               "issued in this name. Please contact us to change it."))
    country = str(given.get("country") or "").strip().upper() or None
    if country is not None and country not in COUNTRIES:
        errors.add("country", _("Must be one of: %(choices)s.", choices=", ".join(COUNTRIES)))
        country = None
    country = country or current["country"] or customer.country
    if "name" in given and "name" not in locked:
        clean["name"] = v.text(given, "name", errors, required=True)
    if "vat_number" in given and "vat_number" not in locked:
        raw_vat = v.text(given, "vat_number", errors, max_length=20)
        clean["vat_number"] = _clean_vat(raw_vat, country, errors) if raw_vat else None
    if "language" in given:
        clean["language"] = v.choice(given, "language", errors, LANGUAGES) or customer.language
    if "phone" in given:
        clean["phone"] = clean_phone(given["phone"], country, "phone", errors)
    for name in ("email", "billing_email", "reminder_email"):
        if name in given:
            value = v.text(given, name, errors)
            value = value.lower() if value else None
            if value and not EMAIL.match(value):
                errors.add(name, _("Not a valid e-mail address."))
            clean[name] = value
    if any(k in given for k in ADDRESS_FIELDS):
        clean["address_line1"] = v.text(given, "address_line1", errors)
        clean["address_line2"] = v.text(given, "address_line2", errors)
        clean["postal_code"] = v.text(given, "postal_code", errors, max_length=16)
        clean["city"] = v.text(given, "city", errors, max_length=100)
        clean["country"] = country
        if any(clean[f] for f in ("address_line1", "postal_code", "city")):
            for name in ("address_line1", "postal_code", "city"):
                if not clean[name]:
                    errors.add(name, _("An address needs a street, a postal code and a city."))
    for role in CONTACT_ROLES_EDITED:
        if f"{role}_name" in given:
            clean[f"{role}_name"] = v.text(given, f"{role}_name", errors)
        if f"{role}_phone" in given:
            clean[f"{role}_phone"] = clean_phone(given[f"{role}_phone"], country,
                                                 f"{role}_phone", errors)
        has_other = clean.get(f"{role}_email") or clean.get(f"{role}_phone")
        if has_other and not clean.get(f"{role}_name") and f"{role}_name" in given:
            errors.add(f"{role}_name", _("Please give the name of this contact person."))
    if "email" in given and not clean.get("email") and customer.email:
        errors.add("email", _("This field is required."))
    errors.raise_if_any()
    return clean


# --- applying --------------------------------------------------------------------------------

def update_details(customer: Customer, data: Mapping[str, Any], *, by_staff: bool = False,
                   channel: str = "portal", contact_language: str | None = None,
                   confirm_url_for: Callable[[str], str] | None = None) -> DetailsChange:
    """Apply the fields present in ``data``; ValidationError (nothing changed) on bad input.

    New e-mail addresses are not applied: a confirmation link goes to each. The caller commits.
    """
    clean = _clean(customer, data, locked_fields(customer, by_staff))
    result = DetailsChange()
    for name in ("name", "vat_number", "language", "phone"):
        if name in clean and clean[name] != getattr(customer, name):
            setattr(customer, name, clean[name])
            result.changed.append(name)
    if "address_line1" in clean:
        _apply_address(customer, clean, result)
    for role in CONTACT_ROLES_EDITED:
        _apply_contact(customer, role, clean, result, confirm_url_for)
    if "email" in clean and clean["email"] and clean["email"] != (customer.email or "").lower():
        _start_email_change(customer, None, clean["email"], result, confirm_url_for)
    if result.changed or result.pending_emails:
        from app.requests.reasons import subject_code
        from app.requests.services import auto_approve

        auto_approve(customer, "data_change", channel="staff" if by_staff else channel,
                     subject=_("Change of details"), subject_code=subject_code("data_change"),
                     payload={"fields": sorted(set(result.changed)),
                              "emails_to_confirm": len(result.pending_emails)})
    return result


def _apply_address(customer: Customer, clean: dict[str, Any], result: DetailsChange) -> None:
    address = billing_address(customer)
    if not clean["address_line1"]:
        return  # an empty address form keeps the address we have (letters need one)
    values = {"line1": clean["address_line1"], "line2": clean["address_line2"],
              "postal_code": clean["postal_code"], "city": clean["city"],
              "country": clean["country"]}
    if address is None:
        address = Address(kind="billing", **values)
        customer.addresses.append(address)
        result.changed.append("address")
        return
    if any(getattr(address, k) != val for k, val in values.items()):
        for key, val in values.items():
            setattr(address, key, val)
        result.changed.append("address")


def _apply_contact(customer: Customer, role: str, clean: dict[str, Any],
                   result: DetailsChange,
                   confirm_url_for: Callable[[str], str] | None) -> None:
    if f"{role}_name" not in clean:
        return
    person = contact(customer, role)
    name, phone = clean[f"{role}_name"], clean.get(f"{role}_phone")
    email = clean.get(f"{role}_email")
    if not name:
        # No reminder contact: reminders go to the billing contact. The billing contact stays.
        if person is not None and role == "reminder":
            customer.contacts.remove(person)
            db.session.delete(person)
            result.changed.append(role)
        return
    if person is None:
        # Someone added from the portal does not get to sign in: staff decide that.
        person = Contact(role=role, name=name, phone=phone, portal_access=False)
        customer.contacts.append(person)
        db.session.flush()
        result.changed.append(role)
    elif (person.name, person.phone) != (name, phone):
        person.name, person.phone = name, phone
        result.changed.append(role)
    if f"{role}_email" in clean:
        if not email:
            if person.email:
                person.email = None
                result.changed.append(role)
        elif email != (person.email or "").lower():
            _start_email_change(customer, person, email, result, confirm_url_for)


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _default_confirm_url(raw: str) -> str:
    from app.core.links import portal_path, public_base

    return public_base() + portal_path("confirm_email_change", token=raw)


def _start_email_change(customer: Customer, person: Contact | None, new_email: str,
                        result: DetailsChange,
                        confirm_url_for: Callable[[str], str] | None) -> EmailChange:
    """Cancel the earlier pending change of the same address, record this one, mail the link."""
    now = utcnow()
    db.session.execute(
        update(EmailChange)
        .where(EmailChange.customer_id == customer.id,
               EmailChange.contact_id.is_(None) if person is None
               else EmailChange.contact_id == person.id,
               EmailChange.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    raw = secrets.token_urlsafe(32)
    hours = max(1, int(get_setting(EMAIL_CHANGE_HOURS)))
    change = EmailChange(customer_id=customer.id, contact_id=person.id if person else None,
                         old_email=(person.email if person else customer.email) or None,
                         new_email=new_email, token_hash=_token_hash(raw),
                         expires_at=now + timedelta(hours=hours), created_at=now)
    db.session.add(change)
    db.session.flush()
    from app.notifications.services import notify_email_change

    notify_email_change(customer, new_email, (confirm_url_for or _default_confirm_url)(raw),
                        valid_hours=hours, contact=person)
    result.pending_emails.append(new_email)
    return change


def find_email_change(raw: str | None) -> EmailChange | None:
    """The unused, unexpired change behind a link's token, else None."""
    if not raw or len(raw) > 100:
        return None
    change = db.session.scalar(select(EmailChange).where(
        EmailChange.token_hash == _token_hash(raw)))
    if change is None or change.used_at is not None or change.expires_at <= utcnow():
        return None
    return change


def confirm_email_change(raw: str | None) -> EmailChange | None:
    """Spend the link (once, even under two concurrent clicks) and apply the new address.

    Returns None when the link is unknown, used or expired: nothing changes then. The caller
    commits."""
    change = find_email_change(raw)
    if change is None:
        return None
    now = utcnow()
    spent = db.session.execute(
        update(EmailChange)
        .where(EmailChange.id == change.id, EmailChange.used_at.is_(None),
               EmailChange.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        return None
    db.session.refresh(change)
    customer = change.customer
    if change.contact_id is not None:
        person = change.contact
        if person is None or person.customer_id != customer.id:
            return None
        change.old_email = person.email
        person.email = change.new_email
    else:
        change.old_email = customer.email
        customer.email = change.new_email
    from app.notifications.services import notify_email_changed

    notify_email_changed(change)
    return change
