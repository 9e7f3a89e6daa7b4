"""Staff editing message templates: what is checked before a version is saved, and saving it.

A template is refused, with the line and a message next to the field, when it does not compile,
uses a variable its event does not have (app.notifications.events), or fails or goes over the
sandbox's limits when rendered with the event's samples in its language and channel — what the
live preview shows. Nothing is saved then; the version in use stays.
"""
from __future__ import annotations

from flask_babel import gettext as _
from jinja2 import meta, nodes
from sqlalchemy import func, select

from app.core.validation import Errors, ValidationError
from app.extensions import db
from app.notifications.events import event_for, sample_context
from app.notifications.models import MessageTemplate
from app.notifications.rendering import TemplateBroken, check_syntax, parse, render_source

PARTS = (("subject", False), ("body_text", False), ("body_html", True))


def describe(exc: TemplateBroken) -> str:
    """The message staff read: the line when known."""
    if exc.lineno:
        return _("Template error on line %(line)s: %(error)s", line=exc.lineno, error=exc.error)
    return _("Template error: %(error)s", error=exc.error)


def _unknown_variable(source: str, html: bool, allowed: frozenset[str], event_label) -> None:
    ast = parse(source)
    unknown = meta.find_undeclared_variables(ast) - allowed
    if not unknown:
        return
    lines = {n.name: n.lineno for n in reversed(list(ast.find_all(nodes.Name)))
             if n.name in unknown}
    name = min(unknown, key=lambda n: (lines.get(n, 0), n))
    raise TemplateBroken(_("%(name)s is not a variable of the message \"%(event)s\"; the list "
                           "beside the text shows the ones it has.", name=name,
                           event=event_label), lineno=lines.get(name))


def _check_part(key: str, part: str, source: str | None, html: bool) -> None:
    if not source:
        return
    event = event_for(key)
    try:
        check_syntax(source, html)
        _unknown_variable(source, html, event.names(html=html), event.label)
    except TemplateBroken as exc:
        raise TemplateBroken(exc.error, lineno=exc.lineno, part=part) from exc


def check_sources(key: str, subject: str | None, body_text: str | None,
                  body_html: str | None) -> None:
    """Raise TemplateBroken (with its part and line) for the first part that does not compile
    or uses a variable the event of ``key`` does not have."""
    sources = {"subject": subject, "body_text": body_text, "body_html": body_html}
    for part, html in PARTS:
        _check_part(key, part, sources[part], html)


def check_template(key: str, channel: str, language: str, subject: str | None,
                   body_text: str | None, body_html: str | None) -> None:
    """Raise ValidationError({field: [message]}) when the template would not work."""
    errors = Errors()
    sources = {"subject": subject, "body_text": body_text, "body_html": body_html}
    for part, html in PARTS:  # each part's mistake next to its field
        try:
            _check_part(key, part, sources[part], html)
        except TemplateBroken as exc:
            errors.add(part, describe(exc))
    errors.raise_if_any()
    try:
        render_source(subject, body_text or "", body_html, language,
                      sample_context(key, language, channel))
    except TemplateBroken as exc:
        errors.add(exc.part or "body_text", describe(exc))
    errors.raise_if_any()


def _next_version(key: str, channel: str, language: str) -> int:
    newest = db.session.scalar(select(func.max(MessageTemplate.version)).where(
        MessageTemplate.key == key, MessageTemplate.channel == channel,
        MessageTemplate.language == language))
    return (newest or 0) + 1


def add_template(key: str, channel: str, language: str, active: bool, subject: str | None,
                 body_text: str, body_html: str | None, user_id: int | None) -> MessageTemplate:
    """A new version (the first one of a new key) after check_template; the caller commits."""
    check_template(key, channel, language, subject, body_text, body_html)
    template = MessageTemplate(key=key, channel=channel, language=language, active=active,
                               subject=subject, body_text=body_text, body_html=body_html,
                               version=_next_version(key, channel, language),
                               created_by_id=user_id)
    db.session.add(template)
    return template


def edit_template(template: MessageTemplate, active: bool, subject: str | None,
                  body_text: str, body_html: str | None,
                  user_id: int | None) -> MessageTemplate | None:
    """An edit never changes a version that may have been sent: new wording is the next
    version; only "In use" changed is set on this one. Returns the new version, if any."""
    if (subject or None, body_text, body_html or None) == (
            template.subject or None, template.body_text, template.body_html or None):
        template.active = active
        return None
    return add_template(template.key, template.channel, template.language, active, subject,
                        body_text, body_html, user_id)


def check_deletable(template: MessageTemplate) -> None:
    """A version used for a message is the record of what that message said: it is kept
    (staff untick "In use" instead). ValidationError({"template": ...}) when it was used."""
    from app.notifications.models import Message

    used = db.session.scalar(select(func.count(Message.id))
                             .where(Message.template_id == template.id))
    if used:
        raise ValidationError({"template": [_(
            "This version was used for %(n)s message(s) and is kept as their record; "
            "untick \"In use\" instead.", n=used)]})
