"""Rendering staff-edited message templates in a sandbox.

Templates are rows (MessageTemplate: key × channel × language, versioned). They run in Jinja's
ImmutableSandboxedEnvironment: a template can use the context it is given and a few formatting
filters, but cannot reach config, the app, private attributes (``__class__``...) or methods that
change data. The customer and the company reach templates as plain dictionaries of display
values, never as ORM objects, so a template cannot walk relationships or sessions either.

An e-mail's HTML part receives the rendered text as ``text_body``: the default HTML template is a
layout around it (``{{ text_body|paragraphs }}``), and staff may replace it with their own HTML.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask_babel import force_locale
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape
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


_URL = re.compile(r"(https?://[^\s<>\"']+)")


def paragraphs(text: Any) -> Markup:
    """Plain text -> HTML paragraphs, line breaks kept and web addresses made clickable."""
    blocks = [b for b in re.split(r"\n\s*\n", str(text or "").strip()) if b.strip()]
    html = []
    for block in blocks:
        lines = [_URL.sub(r'<a href="\1">\1</a>', str(escape(line))) for line in block.splitlines()]
        html.append("<p>" + "<br>\n".join(lines) + "</p>")
    return Markup("\n".join(html))


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined,
                                        trim_blocks=True, lstrip_blocks=True,
                                        keep_trailing_newline=False)
    env.filters.update(money=money, date=day, paragraphs=paragraphs)
    # No globals beyond Jinja's harmless defaults (range, dict, lipsum, cycler, joiner,
    # namespace); the sandbox keeps them from reaching __globals__ and friends.
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


@lru_cache(maxsize=1024)
def _compiled(html: bool, source: str) -> Template:
    """Compiling is the slow part of rendering; a template's source is compiled once."""
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


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


def render_source(subject: str | None, body_text: str, body_html: str | None, language: str,
                  context: dict) -> tuple[str | None, str, str | None]:
    """Render template sources (a saved version, or what staff are typing in the preview)."""
    try:
        with force_locale(language_locale(language)):
            subject_out = (_compiled(False, subject).render(context).strip()
                           if subject else None)
            subject_out = " ".join(subject_out.split()) if subject_out else subject_out
            text = _compiled(False, body_text or "").render(context).strip() + "\n"
            html = (_compiled(True, body_html).render({**context, "text_body": text,
                                                       "subject": subject_out})
                    if body_html else None)
    except TemplateError as exc:
        raise TemplateBroken(str(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        # e.g. {{ "x"|money }}: a template mistake, told to staff, never a crash of the job.
        raise TemplateBroken(f"{type(exc).__name__}: {exc}") from exc
    return subject_out, text, html


def render_template(template: MessageTemplate, context: dict) -> Rendered:
    """Render one template version for a context, in the template's language."""
    try:
        subject, text, html = render_source(template.subject, template.body_text,
                                            template.body_html, template.language, context)
    except TemplateBroken as exc:
        raise TemplateBroken(f"{template!r}: {exc}") from exc
    return Rendered(subject=subject, text=text, html=html, template=template)


def render(key: str, channel: str, language: str, context: dict) -> Rendered:
    return render_template(active_template(key, channel, language), context)
