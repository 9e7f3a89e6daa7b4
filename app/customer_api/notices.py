"""The e-mail telling a customer that one of their webhook addresses was switched off.

Written as a plain outbox row in the customer's language (there is no staff-edited template
for it: it speaks to the customer's developer, and its wording is fixed), in a transaction
of its own, and delivered like every message."""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

from app.core import audit
from app.core.links import absolute
from app.core.models import utcnow
from app.customer_api.models import WebhookEndpoint
from app.extensions import db


def notify_webhook_disabled(endpoint_id: int) -> None:
    from app.notifications import outbox
    from app.notifications.models import Message

    session = db.session
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return
    customer = endpoint.customer
    if customer is None:  # the company's own endpoint: staff see it on "ERP webhooks"
        audit.record("webhook_switched_off", "custapi_webhook", endpoint.id,
                     detail=(endpoint.disabled_reason or "")[:500])
        session.commit()
        return
    try:
        address = outbox.recipient_for(customer, "email")
    except outbox.NoRecipient:
        return  # paper customer without e-mail: the portal page shows it
    key = f"webhook-disabled:{endpoint.id}:{utcnow():%Y%m%d%H%M}"
    if outbox.find_queued(key) is not None:
        return
    with force_locale(customer.language or "en"):
        subject = _("Your webhook address was switched off")
        text = _("We could not deliver events to %(url)s after several attempts, so we "
                 "switched this address off. Check your server, then switch it on again "
                 "under My details, Connected apps: %(link)s",
                 url=endpoint.url, link=absolute("/portal/connected-apps"))
    message = Message(customer=customer, channel="email", recipient=address,
                      language=customer.language or "en", event="webhook_disabled",
                      subject=subject, body_text=text, attachments=[], status="queued",
                      idempotency_key=key, next_attempt_at=utcnow())
    outbox.add_queued(message)
    session.commit()
