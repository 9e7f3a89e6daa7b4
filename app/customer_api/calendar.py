"""A per-customer secret iCalendar feed (RFC 5545) of what is due when: open invoices on
their (deferred) due date and the unpaid instalments of active payment plans.

The URL carries a random token; only its SHA-256 is stored (shown once, like a key; making a
new one stops the old URL at once). Events are all-day, in the customer's language, with
stable UIDs so that a calendar app updates an event rather than adding a second one.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.invoice_states import open_invoice_states
from app.core import audit
from app.core.i18n import money
from app.core.models import utcnow
from app.customer_api.models import CalendarFeed
from app.customers.models import Customer
from app.extensions import db
from app.requests.models import Installment, PaymentPlan


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_feed(customer: Customer) -> str:
    """A new secret token for the customer's feed (the old URL stops working). Caller commits."""
    token = secrets.token_urlsafe(32)
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.customer_id == customer.id))
    if feed is None:
        feed = CalendarFeed(customer_id=customer.id)
        db.session.add(feed)
    feed.token_hash, feed.created_at, feed.last_used_at = _hash(token), utcnow(), None
    audit.record("calendar_created", "custapi_calendar", customer.id,
                 customer_id=customer.id)
    return token


def feed_of(customer_id: int) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.customer_id == customer_id))


def stop_feed(customer: Customer) -> None:
    feed = feed_of(customer.id)
    if feed is not None:
        db.session.delete(feed)
        audit.record("calendar_stopped", "custapi_calendar", customer.id,
                     customer_id=customer.id)


def customer_for(token: str) -> Customer | None:
    if not token or len(token) > 100:
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token)))
    if feed is None:
        return None
    feed.last_used_at = utcnow()
    return db.session.get(Customer, feed.customer_id)


def _text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    data, parts = line.encode(), []
    while len(data) > 75:
        cut = 75 if not parts else 74
        while cut and (data[cut] & 0xC0) == 0x80:  # never inside a UTF-8 character
            cut -= 1
        parts.append(data[:cut].decode())
        data = data[cut:]
    parts.append(data.decode())
    return [parts[0]] + [" " + p for p in parts[1:]]


def _event(uid: str, day, summary: str, description: str, stamp: str) -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_text(summary)}", f"DESCRIPTION:{_text(description)}",
            "TRANSP:TRANSPARENT", "END:VEVENT"]


def ics(customer: Customer, host: str = "creditdesk") -> bytes:
    stamp = f"{utcnow():%Y%m%dT%H%M%SZ}"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//CreditDesk//Due dates//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    with force_locale(customer.language or "en"):
        lines.append(f"X-WR-CALNAME:{_text(_('What is due'))}")
        for state in open_invoice_states(customer.id):
            if state.in_plan or state.payable <= 0:
                continue
            lines += _event(f"invoice-{state.invoice.id}@{host}", state.effective_due,
                            _("Pay invoice %(number)s: %(amount)s", number=state.invoice.number,
                              amount=money(state.payable)),
                            _("Structured communication: %(reference)s",
                              reference=state.invoice.structured_reference), stamp)
        installments = db.session.scalars(
            select(Installment).join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
            .where(PaymentPlan.customer_id == customer.id, PaymentPlan.status == "active",
                   Installment.status != "paid").order_by(Installment.due_date))
        for item in installments:
            left = item.amount - (item.paid_amount or 0)
            lines += _event(f"installment-{item.id}@{host}", item.due_date,
                            _("Instalment %(n)s of your payment plan: %(amount)s",
                              n=item.sequence, amount=money(left)),
                            _("Structured communication: %(reference)s",
                              reference=item.structured_reference), stamp)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(f for line in lines for f in _fold(line)) + "\r\n").encode()
