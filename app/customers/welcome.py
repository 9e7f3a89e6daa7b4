"""The welcome check: is what we know about a new customer complete and confirmed?

The checklist is computed from the data (nothing stored but Customer.verified_at, set when the
customer confirms their details in the portal, see app/portal/welcome.py): an address, an
e-mail address, a phone number and a bank account, each present, and confirmed once the customer
confirmed them (a bank account once it is active).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.settings import register_setting
from app.customers.models import Address, BankAccount, Customer
from app.extensions import db

register_setting("portal.welcome_check", True, "bool",
                 _l("Ask customers to confirm their details when they first sign in"), "portal")

ITEM_LABELS = {"address": _l("Address"), "email": _l("E-mail address"), "phone": _l("Phone"),
               "bank_account": _l("Bank account")}


@dataclass
class CheckItem:
    key: str
    present: bool
    confirmed: bool

    @property
    def label(self) -> str:
        return str(ITEM_LABELS[self.key])


def checklist(customer: Customer) -> list[CheckItem]:
    verified = customer.verified_at is not None
    has_address = db.session.scalar(select(func.count(Address.id)).where(
        Address.customer_id == customer.id)) > 0
    accounts = list(db.session.scalars(select(BankAccount.status).where(
        BankAccount.customer_id == customer.id, BankAccount.status != "retired")))
    return [
        CheckItem("address", has_address, has_address and verified),
        CheckItem("email", bool(customer.email), bool(customer.email) and verified),
        CheckItem("phone", bool(customer.phone), bool(customer.phone) and verified),
        CheckItem("bank_account", bool(accounts), "active" in accounts),
    ]


def is_complete(customer: Customer) -> bool:
    return all(item.confirmed for item in checklist(customer))


def confirm_details(customer: Customer) -> None:
    """The customer says their details are right (the caller commits)."""
    if customer.verified_at is None:
        customer.verified_at = utcnow()


def unverified_customers(limit: int = 100, offset: int = 0) -> tuple[list[Customer], int]:
    """Staff list: customers who never confirmed their details, newest first."""
    query = select(Customer).where(Customer.verified_at.is_(None),
                                   Customer.anonymised_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(query.order_by(Customer.created_at.desc(), Customer.id.desc())
                                   .limit(limit).offset(offset)))
    return rows, total
