"""The sign-in e-mail: through the notifications outbox, to the address the person typed.

The message is a row in the outbox like every other (delivered by the notifications jobs; on the
embedded default without SMTP it lands in the local mailbox staff read in the admin, which also
prints its links on the console, so `python run.py` shows the whole journey). Two things
differ from a reminder and are handled here:

* it goes to the address that asked for it (a contact's), by e-mail, even for a customer who gets
  paper reminders — a sign-in link on paper would be useless (notify_magic_link does that);
* it must go out even when staff broke or deleted the "magic_link" template: then a built-in
  text in the person's language is used, and the problem is logged.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _

from app.core.i18n import language_locale
from app.core.models import utcnow
from app.customers.models import Contact, Customer
from app.extensions import db
from app.notifications import outbox
from app.notifications.models import Message
from app.notifications.rendering import TemplateBroken, TemplateMissing

log = logging.getLogger(__name__)

TEMPLATE_KEY = "magic_link"
EVENT = "magic_link"  # as notifications.services.notify_magic_link names it


def send_magic_link(customer: Customer, contact: Contact | None, email: str, link: str,
                    language: str, minutes: int) -> Message:
    """Queue the sign-in e-mail (the caller commits). Returns the outbox row.

    ``language`` (what the person used on the sign-in page) is only used by the built-in text:
    the notifications service writes in the contact's or customer's language.
    """
    from app.notifications.services import notify_magic_link

    message = None
    try:
        messages = notify_magic_link(customer, contact, link, valid_minutes=minutes, email=email)
        message = next((m for m in messages if m.channel == "email"), None)
    except (TemplateMissing, TemplateBroken):
        log.error("template %r missing or broken: the built-in sign-in e-mail is used",
                  TEMPLATE_KEY)
    if message is None:
        name = contact.name if contact else customer.name
        key = "magic-link:" + hashlib.sha256(link.encode()).hexdigest()[:40]
        message = _builtin_message(customer, email, language, name, link, minutes, key)
    return message


def _builtin_message(customer: Customer, email: str, language: str, name: str, link: str,
                     minutes: int, key: str) -> Message:
    def body(shown_link: str) -> str:
        return _("Hello %(name)s,\n\nOpen this link to sign in to your customer portal:\n"
                 "%(link)s\n\nThe link works once, for %(minutes)s minutes. If you did not ask "
                 "for it, ignore this e-mail.", name=name, link=shown_link, minutes=minutes)

    with force_locale(language_locale(language)):
        subject = _("Your sign-in link")
        real, shown = body(link), body(outbox.hidden_link(link))
    # Stored with the link hidden (staff screens); the real text is sealed for delivery only.
    message = Message(customer=customer, channel="email", recipient=email, language=language,
                      event=EVENT, subject=subject, body_text=shown, attachments=[],
                      status="queued", idempotency_key=key + ":email", next_attempt_at=utcnow())
    outbox.seal(message, subject, real, None, utcnow() + timedelta(minutes=minutes))
    db.session.add(message)
    # Same after-commit delivery as queue_message (the outbox's own hook).
    outbox._remember(db.session(), message)
    return message
