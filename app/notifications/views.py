"""Back office screens for message templates (staff-edited) and the outbox (read-only)."""
from __future__ import annotations

from flask import g
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from app.core.admin import (
    FilterCustomerText,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
    form_validator,
)
from app.customers.models import LANGUAGES
from app.notifications.models import CHANNELS, MESSAGE_STATUSES, Message, MessageTemplate

CATEGORY = "Messages"


def _check_template(text: str) -> None:
    """Templates render in a sandbox; a syntax error is told when saving, not when sending."""
    try:
        SandboxedEnvironment().parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(_("Template error on line %(line)s: %(error)s",
                           line=exc.lineno, error=exc.message)) from exc


class MessageTemplateView(StaffModelView):
    datamodel = SQLAInterface(MessageTemplate)
    list_title = _l("Message templates")
    show_title = _l("Message template")
    add_title = _l("Add a message template")
    edit_title = _l("Edit message template")
    label_columns = {"key": _l("Key"), "channel": _l("Channel"), "language": _l("Language"),
                     "version": _l("Version"), "active": _l("In use"), "subject": _l("Subject"),
                     "body_text": _l("Text"), "body_html": _l("HTML"),
                     "created_at": _l("Created at")}
    list_columns = ["key", "channel", "language", "version", "active", "subject"]
    search_columns = ["key", "channel", "language", "active", "subject"]
    show_columns = ["key", "channel", "language", "version", "active", "subject", "body_text",
                    "body_html", "created_at"]
    add_columns = edit_columns = ["key", "channel", "language", "version", "active", "subject",
                                  "body_text", "body_html"]
    base_order = ("key", "asc")
    choice_columns = {"channel": CHANNELS, "language": LANGUAGES}
    validators_columns = {"subject": [form_validator(_check_template)],
                          "body_text": [form_validator(_check_template)],
                          "body_html": [form_validator(_check_template)]}
    description_columns = {
        "key": _l("Which message this is, e.g. reminder_friendly; dunning levels name it."),
        "body_text": _l("Jinja template, e.g. {{ customer_name }}."),
    }

    def pre_add(self, item: MessageTemplate) -> None:
        item.created_by_id = g.user.id


class MessageView(ReadOnlyModelView):
    datamodel = SQLAInterface(Message)
    list_title = _l("Messages sent")
    show_title = _l("Message")
    label_columns = {"customer": _l("Customer"), "channel": _l("Channel"),
                     "recipient": _l("Recipient"), "language": _l("Language"),
                     "template": _l("Template"), "event": _l("Event"), "subject": _l("Subject"),
                     "body_text": _l("Text"), "status": _l("Status"), "attempts": _l("Attempts"),
                     "next_attempt_at": _l("Next attempt"), "error": _l("Last error"),
                     "created_at": _l("Created at"), "sent_at": _l("Sent at"),
                     "provider_message_id": _l("Provider's id"), "attachments": _l("Attachments")}
    list_columns = ["created_at", "customer", "channel", "recipient", "subject", "status",
                    "sent_at"]
    search_columns = ["customer", "channel", "recipient", "event", "status", "created_at"]
    show_columns = ["customer", "channel", "recipient", "language", "template", "event",
                    "subject", "body_text", "attachments", "status", "attempts",
                    "next_attempt_at", "error", "provider_message_id", "created_at", "sent_at"]
    base_order = ("created_at", "desc")
    choice_columns = {"channel": CHANNELS, "status": MESSAGE_STATUSES, "language": LANGUAGES}
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(MessageTemplateView, "Message templates", label=_l("Message templates"),
                        icon="fa-file-code-o", category=CATEGORY, category_label=_l("Messages"),
                        category_icon="fa-envelope")
    appbuilder.add_view(MessageView, "Messages sent", label=_l("Messages sent"),
                        icon="fa-paper-plane", category=CATEGORY)
