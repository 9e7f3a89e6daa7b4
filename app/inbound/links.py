"""The page that settles what a reply is about.

"already paid" and "more time": a scoped pay link (app/paylinks: no sign-in, only the named or
open invoices, with "I need more time" and "Pay in instalments"); "dispute" and "change of
details": a portal deep link (the customer signs in with a fresh magic link sent to their
address on file, so a forwarded answer opens nothing).
"""
from __future__ import annotations

from sqlalchemy import select

from app.customers.models import Customer
from app.extensions import db
from app.inbound.classify import DETAILS, DISPUTE, MORE_TIME, PAID
from app.invoices.models import Invoice, invoice_is_open
from app.notifications.message_links import PAY_LINK, LinkRequest

# category → (portal endpoint with one invoice, endpoint without)
ENDPOINTS = {PAID: ("pay_invoice", "pay_overdue"), DISPUTE: ("invoice_dispute", "invoices"),
             MORE_TIME: ("plan_wizard", "plan_wizard"), DETAILS: ("profile", "profile")}


def _portal():
    from app.core.links import portal_link, portal_path

    return portal_link, portal_path


def open_invoice_ids(customer_id: int) -> list[int]:
    return list(db.session.scalars(select(Invoice.id).where(
        Invoice.customer_id == customer_id, invoice_is_open(),
        Invoice.open_amount > 0).order_by(Invoice.due_date, Invoice.id).limit(50)))


def action_link(customer: Customer, category: str, invoice_ids: list[int]) -> str | LinkRequest:
    """The address the answer carries. A pay link is asked for, not made here: the outbox has
    it made for the answer itself (bound to that message, its token hidden in the stored copy
    and sealed for delivery, app/notifications/message_links.py); the portal's page is the
    fallback when none can be made."""
    if category in (PAID, MORE_TIME):
        wanted = invoice_ids or open_invoice_ids(customer.id)
        if wanted:
            return LinkRequest(PAY_LINK, {"invoice_ids": list(wanted), "purpose": "pay"},
                               fallback=_portal_home())
    return _portal_page(customer, category, invoice_ids)


def _portal_home() -> str:
    """The fallback of a pay link that cannot be made: the portal's sign-in (no token)."""
    try:
        from app.notifications.context import public_url

        return public_url("/portal/")
    except RuntimeError:  # no public address: the template leaves the link out
        return ""


def _portal_page(customer: Customer, category: str, invoice_ids: list[int]) -> str:
    with_invoice, without = ENDPOINTS.get(category, ("dashboard", "dashboard"))
    try:
        portal_link, portal_path = _portal()
        if len(invoice_ids) == 1 and with_invoice in ("pay_invoice", "invoice_dispute"):
            path = portal_path(with_invoice, invoice_id=invoice_ids[0])
        else:
            path = portal_path(without)
        return portal_link(customer, path)
    except (ImportError, LookupError, RuntimeError):
        from app.notifications.context import public_url

        return public_url("/portal/")
