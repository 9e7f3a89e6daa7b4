"""The pay link a money-asking message carries, as its ``pay_url`` template variable.

A message's stored copy (what staff screens, exports and the timeline read) shows the link
with its token hidden; the real link is sealed for the delivery job only (app.notifications
.outbox ``secrets``), until the link expires; a letter is printed from the sealed wording too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.paylinks import services


@dataclass(frozen=True)
class MessagePayLink:
    url: str
    valid_until: datetime

    def secrets(self) -> dict[str, Any]:
        """queue_message's arguments that keep the token out of the stored copy."""
        from app.notifications.outbox import hidden_link

        return {"secrets": {"pay_url": hidden_link(self.url)},
                "secret_valid_until": self.valid_until}


def message_pay_link(customer_id: int, invoice_ids: list[int], purpose: str,
                     message_id: int | None = None) -> MessagePayLink | None:
    """A new pay link for a message about ``invoice_ids``; None when none can be built (no
    public address, or no invoice of this customer): the template then gets the portal's own
    pay page."""
    from app.core.links import absolute

    if not invoice_ids:
        return None
    try:
        absolute("/")
    except RuntimeError:  # PublicUrlMissing: no address to put in a message
        return None
    link, token = services.create_pay_link(customer_id, invoice_ids, message_id=message_id,
                                           purpose=purpose)
    url = absolute(services.path_for_token(token))
    if not link.invoice_ids:
        return None
    return MessagePayLink(url, link.expires_at)
