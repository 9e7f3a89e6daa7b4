"""Back office screens: message templates (versioned, live preview), the outbox with "send
again", the local mailbox and the print batches of letters."""
from __future__ import annotations

import io

from flask import abort, flash, g, jsonify, redirect, request, send_file
from flask_appbuilder import AppBuilder, expose
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import FilterStartsWith
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import or_, select

from app.core.admin import (
    READ_WRITE,
    FilterCustomerText,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
    error_text,
    refuse,
)
from app.core.validation import ValidationError
from app.customers.models import LANGUAGES, Customer
from app.extensions import db
from app.notifications.editing import (
    add_template,
    check_deletable,
    check_sources,
    describe,
    edit_template,
)
from app.notifications.events import event_for, sample_context
from app.notifications.models import (
    CHANNELS,
    MESSAGE_STATUSES,
    PRINT_BATCH_STATUSES,
    Message,
    MessageTemplate,
    PrintBatch,
)
from app.notifications.print_batches import batch_zip, close_batch, withdraw_settled_letters
from app.notifications.rendering import TemplateBroken, render_source

CATEGORY = "Messages"
TEMPLATE_FIELDS = ("active", "subject", "body_text", "body_html")


def html_frame(value) -> Markup:
    """An e-mail's HTML shown as the customer sees it, in a sandboxed frame (no scripts)."""
    if not value:
        return Markup("")
    return Markup('<iframe sandbox="" style="width:100%%;height:420px;border:1px solid #ddd" '
                  'srcdoc="%s"></iframe>') % escape(value)


def preformatted(value) -> Markup:
    return Markup('<pre style="white-space:pre-wrap">%s</pre>') % (value or "")


def find_customer(text: str | None) -> Customer | None:
    """The customer whose number is, or whose name contains, the text (the preview's choice)."""
    text = (text or "").strip()
    if not text:
        return None
    return db.session.scalar(select(Customer).where(
        or_(Customer.number == text, Customer.name.ilike(f"%{text}%"))).order_by(Customer.id)
        .limit(1))


def template_variables(key: str | None, channel: str | None = None) -> dict:
    """The event of a template key and the variables its templates may use (the editor)."""
    event = event_for(key)
    return {"event": str(event.label),
            "variables": [{"name": name, "help": text}
                          for name, text in event.listed(html=channel in (None, "email"))]}


def preview(key: str, channel: str, language: str, subject: str | None, body_text: str,
            body_html: str | None, customer_text: str | None) -> dict:
    """Render what staff typed with the event's samples, in the template's language and
    channel; on a real customer when one is named. Errors are returned, never raised."""
    from app.notifications.context import customer_view

    customer = find_customer(customer_text)
    if customer is None and (customer_text or "").strip():
        return {"error": _("No customer found for the preview."),
                **template_variables(key, channel)}
    shown = f"{customer.number} {customer.name}" if customer is not None else ""
    context = sample_context(key, language, channel,
                             customer_view(customer) if customer is not None else None)
    try:
        check_sources(key, subject, body_text, body_html)  # names an unknown variable
        subject_out, text, html = render_source(subject, body_text, body_html, language,
                                                context)
    except TemplateBroken as exc:
        return {"error": describe(exc), "customer": shown, **template_variables(key, channel)}
    return {"subject": subject_out if channel != "sms" else None, "text": text,
            "html": html if channel == "email" else None, "customer": shown,
            **template_variables(key, channel)}


class MessageTemplateView(StaffModelView):
    """Staff edit wording; every save is a new version, the newest active one is used."""

    datamodel = SQLAInterface(MessageTemplate)
    base_permissions = [*READ_WRITE, "can_preview"]
    list_title = _l("Message templates")
    show_title = _l("Message template")
    add_title = _l("Add a message template")
    edit_title = _l("Edit message template (saved as a new version)")
    label_columns = {"key": _l("Key"), "channel": _l("Channel"), "language": _l("Language"),
                     "version": _l("Version"), "active": _l("In use"), "subject": _l("Subject"),
                     "body_text": _l("Text"), "body_html": _l("HTML"),
                     "created_at": _l("Created at"), "created_by": _l("Written by")}
    list_columns = ["key", "channel", "language", "version", "active", "subject", "created_at"]
    search_columns = ["key", "channel", "language", "active", "subject"]
    show_columns = ["key", "channel", "language", "version", "active", "subject", "body_text",
                    "body_html", "created_at", "created_by"]
    add_columns = ["key", "channel", "language", "active", "subject", "body_text", "body_html"]
    edit_columns = list(TEMPLATE_FIELDS)
    base_order = ("key", "asc")
    choice_columns = {"channel": CHANNELS, "language": LANGUAGES}
    formatters_columns = {"body_text": preformatted, "body_html": preformatted}
    description_columns = {
        "key": _l("Which message this is, e.g. reminder_friendly; dunning levels name it."),
        "body_text": _l("Jinja template, e.g. {{ customer.contact_name }}, "
                        "{{ amount|money }}, {{ due_date|date }}."),
        "body_html": _l("Optional HTML for e-mails; {{ text_body|paragraphs }} is the text "
                        "above as HTML paragraphs."),
    }
    add_template = "notifications/template_add.html"
    edit_template = "notifications/template_edit.html"
    show_template = "notifications/template_show.html"

    extra_args = {"template_variables": template_variables,
                  "template_row": lambda pk: db.session.get(MessageTemplate, int(pk))
                  if str(pk or "").isdigit() else None}

    # Saving goes through app.notifications.editing: the template is checked against its
    # event's variables and rendered with its samples; an edit becomes the next version.
    def create_from_form(self, form) -> None:
        add_template((form.key.data or "").strip(), form.channel.data, form.language.data,
                     bool(form.active.data), form.subject.data or None,
                     form.body_text.data or "", form.body_html.data or None, g.user.id)

    def update_from_form(self, item: MessageTemplate, form) -> None:
        new = edit_template(item, bool(form.active.data), form.subject.data or None,
                            form.body_text.data or "", form.body_html.data or None, g.user.id)
        if new is not None:
            flash(_("Saved as version %(version)s; earlier versions are kept.",
                    version=new.version), "info")

    def pre_delete(self, item: MessageTemplate) -> None:
        try:
            check_deletable(item)  # a version that was sent is the messages' record
        except ValidationError as exc:
            refuse(error_text(exc))

    @expose("/preview", methods=["POST"])
    @has_access
    def preview(self):
        """Live preview of what is being typed, on a real customer (JSON for the edit page)."""
        form = request.form
        key, channel, language = form.get("key"), form.get("channel"), form.get("language")
        if (form.get("template_id") or "").isdigit():  # the edit page: key etc. are the row's
            saved = db.session.get(MessageTemplate, int(form["template_id"]))
            if saved is not None:
                key, channel, language = saved.key, saved.channel, saved.language
        channel = channel if channel in CHANNELS else "email"
        language = language if language in LANGUAGES else "en"
        return jsonify(preview(key or "", channel, language,
                               form.get("subject") or None, form.get("body_text") or "",
                               form.get("body_html") or None, form.get("customer")))

    @expose("/preview/<int:pk>", methods=["GET"])
    @has_access
    @permission_name("preview")
    def preview_version(self, pk: int):
        template = db.session.get(MessageTemplate, pk)
        if template is None:
            abort(404)
        result = preview(template.key, template.channel, template.language, template.subject,
                         template.body_text, template.body_html, request.args.get("customer"))
        return self.render_template("notifications/template_preview.html", version=template,
                                    result=result, frame=html_frame(result.get("html")))


class MessageView(ReadOnlyModelView):
    datamodel = SQLAInterface(Message)
    # "resend" is the action below; a fresh list, not the shared READ_ONLY one FAB appends to.
    base_permissions = ["can_list", "can_show", "resend"]
    list_title = _l("Messages sent")
    show_title = _l("Message")
    label_columns = {"customer": _l("Customer"), "channel": _l("Channel"),
                     "recipient": _l("Recipient"), "language": _l("Language"),
                     "template": _l("Template"), "event": _l("Event"), "subject": _l("Subject"),
                     "body_text": _l("Text"), "body_html": _l("HTML"), "status": _l("Status"),
                     "attempts": _l("Attempts"), "next_attempt_at": _l("Next attempt"),
                     "error": _l("Last error"), "created_at": _l("Created at"),
                     "sent_at": _l("Sent at"), "provider": _l("Sent through"),
                     "provider_message_id": _l("Provider's id"),
                     "attachments": _l("Attachments"), "idempotency_key": _l("Idempotency key"),
                     "print_batch": _l("Print batch"), "sending_started_at": _l("Sending since")}
    list_columns = ["created_at", "customer", "event", "channel", "recipient", "subject",
                    "status", "attempts", "error"]
    search_columns = ["customer", "channel", "recipient", "event", "status", "created_at"]
    show_columns = ["customer", "channel", "recipient", "language", "template", "event",
                    "subject", "body_text", "body_html", "attachments", "status", "attempts",
                    "next_attempt_at", "error", "provider", "provider_message_id",
                    "idempotency_key", "print_batch", "sending_started_at", "created_at",
                    "sent_at"]
    base_order = ("created_at", "desc")
    choice_columns = {"channel": CHANNELS, "status": MESSAGE_STATUSES, "language": LANGUAGES}
    formatters_columns = {"body_text": preformatted, "body_html": html_frame}
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}

    @action("resend", _l("Send again"), _l("Send the selected failed messages again?"),
            "fa-repeat", multiple=True)
    def resend(self, items):
        from app.notifications.jobs import resend_failed

        items = items if isinstance(items, list) else [items]
        done, secret, skipped = resend_failed(items)  # only failed ones, none with a secret
        db.session.commit()  # after the commit, the outbox queues their delivery
        if done:
            flash(_("%(n)s message(s) queued to be sent again.", n=done), "success")
        if secret:
            flash(_("%(n)s message(s) carried a sign-in link or a code, which is not kept once "
                    "sending failed: the customer asks for a new one.", n=secret), "warning")
        if skipped:
            flash(_("%(n)s message(s) were not failed and were left as they are.", n=skipped),
                  "warning")
        return redirect(request.referrer or self.get_redirect())


class MailboxView(ReadOnlyModelView):
    """E-mail kept inside CreditDesk when no SMTP server is configured (the embedded default)."""

    datamodel = SQLAInterface(Message)
    # local_mailbox (e-mail) and local_mailbox_sms (SMS, on the embedded default only)
    base_filters = [["provider", FilterStartsWith, "local_mailbox"]]
    list_title = _l("Mailbox (e-mail not sent out)")
    show_title = _l("E-mail in the local mailbox")
    label_columns = MessageView.label_columns
    list_columns = ["sent_at", "channel", "recipient", "subject", "customer", "event"]
    search_columns = ["recipient", "subject", "event", "sent_at"]
    choice_columns = {"channel": CHANNELS}
    show_columns = ["sent_at", "channel", "recipient", "subject", "customer", "event", "body_text",
                    "body_html", "attachments", "idempotency_key"]
    base_order = ("sent_at", "desc")
    formatters_columns = {"body_text": preformatted, "body_html": html_frame}


class PrintBatchView(ReadOnlyModelView):
    """Letters waiting for the print shop: download a batch as a zip, then mark it sent."""

    datamodel = SQLAInterface(PrintBatch)
    base_permissions = ["can_list", "can_show", "can_download", "close"]
    list_title = _l("Print batches")
    show_title = _l("Print batch")
    label_columns = {"name": _l("Batch"), "status": _l("Status"), "created_at": _l("Opened at"),
                     "closed_at": _l("Sent to the print shop at"),
                     "letter_count": _l("Letters"), "folder": _l("Folder")}
    list_columns = ["name", "status", "letter_count", "created_at", "closed_at"]
    search_columns = ["name", "status", "created_at"]
    show_columns = ["name", "status", "letter_count", "created_at", "closed_at", "folder"]
    base_order = ("created_at", "desc")
    choice_columns = {"status": PRINT_BATCH_STATUSES}
    show_template = "notifications/print_batch_show.html"

    # POST (with the CSRF token): downloading also takes out the letters of settled invoices.
    @expose("/zip/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("download")
    def zip(self, pk: int):
        batch = db.session.get(PrintBatch, pk)
        if batch is None:
            abort(404)
        self._withdraw_settled(batch)
        return send_file(io.BytesIO(batch_zip(batch)), mimetype="application/zip",
                         as_attachment=True, download_name=f"letters-{batch.name}.zip")

    @classmethod
    def _withdraw_settled(cls, batch: PrintBatch) -> None:
        withdrawn = withdraw_settled_letters(batch)
        db.session.commit()
        cls._say_withdrawn(batch, withdrawn)

    @staticmethod
    def _say_withdrawn(batch: PrintBatch, withdrawn: int | None) -> None:
        if withdrawn:
            flash(ngettext("%(num)s reminder letter was taken out of batch %(batch)s: its "
                           "invoices were paid.",
                           "%(num)s reminder letters were taken out of batch %(batch)s: their "
                           "invoices were paid.", withdrawn, batch=batch.name), "info")

    @action("close", _l("Mark as sent to the print shop"),
            _l("New letters will go into a new batch. Continue?"), "fa-check", multiple=True)
    def close(self, items):
        items = items if isinstance(items, list) else [items]
        for batch in items:
            if batch is not None:
                withdrawn = close_batch(batch)  # the print batch rules (app/notifications)
                db.session.commit()
                self._say_withdrawn(batch, withdrawn)
        flash(_("Batch(es) marked as sent to the print shop."), "success")
        return redirect(request.referrer or self.get_redirect())


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(MessageTemplateView, "Message templates", label=_l("Message templates"),
                        icon="fa-file-code-o", category=CATEGORY, category_label=_l("Messages"),
                        category_icon="fa-envelope")
    appbuilder.add_view(MessageView, "Messages sent", label=_l("Messages sent"),
                        icon="fa-paper-plane", category=CATEGORY)
    appbuilder.add_view(MailboxView, "Mailbox", label=_l("Mailbox"), icon="fa-inbox",
                        category=CATEGORY)
    appbuilder.add_view(PrintBatchView, "Print batches", label=_l("Print batches"),
                        icon="fa-print", category=CATEGORY)
