"""The pay links' lines on the customer's timeline: opened, paid online, asked for time..."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.i18n import money
from app.customers.timeline import Event, register_source
from app.extensions import db
from app.paylinks.models import PayLinkEvent
from app.paylinks.online import LABELS


def _title(event: PayLinkEvent) -> str:
    if event.kind == "opened":
        return _("Opened the pay link")
    if event.kind == "checkout":
        return _("Started paying online from the pay link")
    if event.kind == "paid_online":
        return _("Paid online from the pay link")
    if event.kind == "deferral":
        return _("Asked for more time from the pay link")
    if event.kind == "plan":
        return _("Asked to pay in instalments from the pay link")
    return _("Pay link revoked")


def _detail(event: PayLinkEvent) -> str:
    if event.kind == "checkout" and event.detail in LABELS:
        return str(LABELS[event.detail])
    if event.kind == "paid_online" and event.detail:
        try:
            return money(event.detail)
        except Exception:  # noqa: BLE001  (an old or odd value: show it as it is)
            return event.detail
    if event.kind in ("deferral", "plan") and event.ref_id:
        return _("Request no. %(number)s", number=event.ref_id)
    return event.detail or ""


def pay_link_events(customer_id: int, n: int) -> list:
    rows = db.session.scalars(
        select(PayLinkEvent).where(PayLinkEvent.customer_id == customer_id)
        .order_by(PayLinkEvent.at.desc(), PayLinkEvent.id.desc()).limit(n))
    return [Event("pay_link", row.at, _title(row), _detail(row), None, None,
                  "success" if row.kind == "paid_online" else "default",
                  {"pay_link_id": row.pay_link_id}) for row in rows]


register_source(pay_link_events)
