"""The pay link a money-asking message carries, as its ``pay_url`` template variable.

Registered with app.notifications.message_links as the maker of ``PAY_LINK`` links when the app
starts (app.backoffice imports this module): a caller of ``queue_message`` (reminders at every
level and the notice before the due date in app.dunning.messages, a broken promise, instalment
notices and a broken plan in app.notifications.services) asks for
``links={"pay_url": pay_link_request(...)}`` and every message written gets a link of its own,
bound to that message (``PayLink.message_id``), its customer and its invoices.

A message's stored copy (what staff screens, exports and the timeline read) shows the link with
its token hidden; the real link is sealed for the delivery job only, until the link expires; a
letter is printed from the sealed wording too.
"""
from __future__ import annotations

from typing import Any

from app.extensions import db
from app.notifications.message_links import PAY_LINK, LinkRequest, MadeLink, register_link_maker
from app.paylinks import services


def pay_link_request(invoice_ids: list[int], purpose: str, fallback: str) -> LinkRequest:
    """What a message asks for: a pay link to ``invoice_ids`` (``purpose``: see
    ``services.pay_link_url``); ``fallback`` when none can be made (the portal's own page)."""
    return LinkRequest(PAY_LINK, {"invoice_ids": list(invoice_ids), "purpose": purpose},
                       fallback)


def make_message_link(customer: Any, message: Any, *, invoice_ids: list[int],
                      purpose: str) -> MadeLink | None:
    """The link maker: a new pay link for ``message`` (not written yet) about ``invoice_ids``.
    None when none can be built (no public address, or no invoice of this customer): the
    message then gets its fallback. Never flushes (the message is not complete yet)."""
    from app.core.links import absolute

    if not invoice_ids:
        return None
    try:
        absolute("/")
    except RuntimeError:  # PublicUrlMissing: no address to put in a message
        return None
    link, token = services.create_pay_link(customer.id, invoice_ids, purpose=purpose,
                                           message=message, flush=False)
    if not link.invoice_ids:
        link.message = None
        db.session.expunge(link)
        return None
    return MadeLink(absolute(services.path_for_token(token)), link.expires_at)


register_link_maker(PAY_LINK, make_message_link)
