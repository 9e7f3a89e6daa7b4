"""Rendering staff-edited message templates in a sandbox.

Templates are rows (MessageTemplate: key × channel × language, versioned). They run in Jinja's
SandboxedEnvironment: a template can use the context it is given and a few formatting filters,
but cannot reach config, the app, or private attributes of objects.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import force_locale
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select

from app.core.i18n import day, language_locale, money
from app.extensions import db
from app.notifications.models import MessageTemplate


class TemplateMissing(LookupError):
    """No active template for this key, channel and language."""


class TemplateBroken(ValueError):
    """The template does not compile or render (syntax error, unknown variable, forbidden call)."""


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    template: MessageTemplate


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined,
                                        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=money, date=day)
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


def check_syntax(source: str) -> None:
    """Raise TemplateBroken when staff typed a template Jinja cannot compile."""
    try:
        _TEXT_ENV.parse(source or "")
    except TemplateError as exc:
        raise TemplateBroken(str(exc)) from exc


def active_template(key: str, channel: str, language: str) -> MessageTemplate:
    """The newest active version in the language, else in English (never silently nothing)."""
    for lang in dict.fromkeys((language, "en")):
        template = db.session.scalar(
            select(MessageTemplate)
            .where(MessageTemplate.key == key, MessageTemplate.channel == channel,
                   MessageTemplate.language == lang, MessageTemplate.active.is_(True))
            .order_by(MessageTemplate.version.desc()).limit(1)
        )
        if template is not None:
            return template
    raise TemplateMissing(f"{key}/{channel}/{language}")


def render_template(template: MessageTemplate, context: dict) -> Rendered:
    """Render one template version for a context, in the template's language."""
    try:
        with force_locale(language_locale(template.language)):
            subject = (_TEXT_ENV.from_string(template.subject).render(context).strip()
                       if template.subject else None)
            text = _TEXT_ENV.from_string(template.body_text).render(context)
            html = (_HTML_ENV.from_string(template.body_html).render(context)
                    if template.body_html else None)
    except TemplateError as exc:
        raise TemplateBroken(f"{template!r}: {exc}") from exc
    return Rendered(subject=subject, text=text, html=html, template=template)


def render(key: str, channel: str, language: str, context: dict) -> Rendered:
    return render_template(active_template(key, channel, language), context)
