"""Making, resolving and revoking pay links; recording their uses.

The token a customer receives is ``<random>.<signature>``: 18 random bytes (unguessable, 144
bits) and an HMAC of them keyed with SECRET_KEY, so a made-up or altered token is refused
without a database lookup. Only the SHA-256 of the random part is stored; nobody, staff
included, can rebuild a link from the database. A link is bound to one customer and the invoice
ids of its message; it works until it is revoked or its validity (setting
``paylinks.valid_days``) is over. Invoices settled since do not make it fail: the page then
says there is nothing left to pay.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.core.models import utcnow
from app.core.settings import get_setting
from app.extensions import db
from app.invoices.models import Invoice
from app.paylinks.models import PURPOSES, PayLink, PayLinkEvent
from app.paylinks.settings import VALID_DAYS

log = logging.getLogger(__name__)


MAX_TOKEN_LENGTH = 80
_RANDOM_BYTES = 18


def _signature(raw: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    digest = hmac.new(key, b"creditdesk.pay-link:" + raw.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:12]).decode("ascii").rstrip("=")


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def _raw_from(token: str) -> str | None:
    """The random part of a token whose signature is ours, else None (no database lookup)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    raw, dot, signature = token.partition(".")
    if not dot or not raw or not hmac.compare_digest(signature, _signature(raw)):
        return None
    return raw


def create_pay_link(customer_id: int, invoice_ids: list[int], *, message_id: int | None = None,
                    purpose: str = "pay", message: Any = None,
                    flush: bool = True) -> tuple[PayLink, str]:
    """A new link (flushed unless ``flush`` is False; the caller commits) and its token.
    Invoice ids that are not the customer's are dropped: a link can never open another
    customer's invoice.

    ``message``: the outbox Message it is made for, still unwritten (app.paylinks.messages):
    its id becomes the link's ``message_id`` when both are written."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown pay link purpose {purpose!r}")
    wanted = sorted({int(i) for i in invoice_ids})
    owned = list(db.session.scalars(select(Invoice.id).where(
        Invoice.customer_id == customer_id, Invoice.id.in_(wanted or [0])).order_by(Invoice.id)))
    raw = secrets.token_urlsafe(_RANDOM_BYTES)
    days = max(1, int(get_setting(VALID_DAYS)))
    now = utcnow()
    link = PayLink(customer_id=customer_id, message_id=message_id, invoice_ids=owned,
                   purpose=purpose, token_hash=_hash(raw), created_at=now,
                   expires_at=now + timedelta(days=days))
    if message is not None:
        link.message = message
    db.session.add(link)
    if flush:
        db.session.flush()
    return link, f"{raw}.{_signature(raw)}"


def pay_link_url(customer_id: int, invoice_ids: list[int], *, message_id: int | None = None,
                 purpose: str = "pay") -> str:
    """The absolute address of a new pay link, for a message that asks for money.

    Opening it shows, without signing in, only the amount to pay now on ``invoice_ids``
    (disputed parts excluded), those invoices, the EPC QR code and bank details, "Pay online",
    "I need more time" and "Pay in instalments". It works for ``paylinks.valid_days`` days
    (30 by default) or until staff revoke it; once the invoices are paid it says there is
    nothing left to pay.

    ``customer_id``: the message's customer; ``invoice_ids``: the invoices the message asks to
    pay (ids of other customers are dropped); ``message_id``: the outbox message, when known;
    ``purpose``: one of "pay" (a reminder), "due_soon", "instalment", "promise_broken",
    "plan_broken" (what the page's title says). Adds a row to the session: the caller commits
    it with the message. The address is built by app.core.links (PUBLIC_URL), never from a
    request's Host header.
    """
    from app.core.links import absolute

    _link, token = create_pay_link(customer_id, invoice_ids, message_id=message_id,
                                   purpose=purpose)
    return absolute(path_for_token(token))


def path_for_token(token: str) -> str:
    return f"/portal/p/{token}"


# --- opening -----------------------------------------------------------------------------------

@dataclass
class Resolved:
    state: str  # ok / invalid (unknown, altered) / expired / revoked
    link: PayLink | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def link_state(link: PayLink | None) -> str:
    if link is None:
        return "invalid"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= utcnow():
        return "expired"
    customer = link.customer
    if customer is None or customer.anonymised_at is not None:
        return "invalid"
    return "ok"


def resolve(token: str) -> Resolved:
    """What a token opens; anything but "ok" shows no data at all."""
    raw = _raw_from(token)
    if raw is None:
        return Resolved("invalid")
    link = db.session.scalar(select(PayLink).where(PayLink.token_hash == _hash(raw)))
    state = link_state(link)
    return Resolved(state, link if state == "ok" else None)


def usable_link(link_id: Any) -> PayLink | None:
    """The link a pay-link session points at, if it still works (re-checked on every page)."""
    try:
        link = db.session.get(PayLink, int(link_id))
    except (TypeError, ValueError):
        return None
    return link if link_state(link) == "ok" else None


# --- staff --------------------------------------------------------------------------------------

def revoke(link_id: int, customer_id: int, user: Any = None) -> bool:
    """Staff: the link stops working at once. False when it is not this customer's or was
    revoked already. The caller commits."""
    link = db.session.get(PayLink, link_id)
    if link is None or link.customer_id != customer_id or link.revoked_at is not None:
        return False
    link.revoked_at = utcnow()
    link.revoked_by = (getattr(user, "username", None) or str(user or ""))[:100] or None
    record_use(link, "revoked")
    return True


def customer_links(customer_id: int, limit: int = 50) -> list[PayLink]:
    """The customer's pay links, newest first (the staff 360° page)."""
    return list(db.session.scalars(select(PayLink).where(PayLink.customer_id == customer_id)
                                   .order_by(PayLink.id.desc()).limit(limit)))


# --- uses ---------------------------------------------------------------------------------------

def record_use(link: PayLink, kind: str, ref_id: int | None = None,
               detail: str | None = None) -> PayLinkEvent:
    """One line on the customer's timeline (the caller commits)."""
    now = utcnow()
    if kind != "revoked":
        link.last_used_at = now
    event = PayLinkEvent(pay_link_id=link.id, customer_id=link.customer_id, kind=kind, at=now,
                         ref_id=ref_id, detail=(detail or "")[:200] or None)
    db.session.add(event)
    return event


def made_by_link(link: PayLink, kind: str, ref_id: int) -> bool:
    """Whether this link made that checkout / request (its pages show nothing else)."""
    return db.session.scalar(select(PayLinkEvent.id).where(
        PayLinkEvent.pay_link_id == link.id, PayLinkEvent.kind == kind,
        PayLinkEvent.ref_id == ref_id).limit(1)) is not None
