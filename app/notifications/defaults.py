"""The default message templates shipped with CreditDesk, installed as version rows.

The wording lives in readable files, ``default_templates/<key>/<channel>.<language>.txt``:

    Subject: Thank you for your payment of {{ payment_amount|money }}
    <blank line>
    Hello {{ customer.contact_name }}, ...

(SMS files have no subject line.) E-mails get the shared HTML layout ``_layout.html`` around
their text. A letter uses ``letter.<language>.txt`` when there is one, else the e-mail's text;
keys in EMAIL_ONLY (log-in links, address confirmations) have no letter.

``install_defaults()`` is idempotent: it adds what is missing, updates a default it installed
earlier when the shipped wording changed (as a new version), and never touches a template that
staff have edited (a version with a ``created_by``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.notifications.models import MessageTemplate

log = logging.getLogger(__name__)

DEFAULTS_DIR = Path(__file__).resolve().parent / "default_templates"
LANGUAGES = ("fr", "nl", "en")
# Messages that only make sense by e-mail: they prove an address or carry a log-in link.
EMAIL_ONLY = frozenset({"magic_link", "email_change_confirmation", "email_changed_notice",
                        "refund_account_staff_alert"})


@dataclass(frozen=True)
class DefaultTemplate:
    key: str
    channel: str
    language: str
    subject: str | None
    body_text: str
    body_html: str | None


def _parse(path: Path) -> tuple[str | None, str]:
    text = path.read_text(encoding="utf-8")
    subject = None
    if text.startswith("Subject:"):
        first, _, text = text.partition("\n")
        subject = first[len("Subject:"):].strip()
    return subject, text.strip("\n") + "\n"


def load_defaults(folder: Path = DEFAULTS_DIR) -> list[DefaultTemplate]:
    """Every template in a folder laid out as described above (other domains may reuse it)."""
    layout_file = folder / "_layout.html"
    layout = (layout_file if layout_file.exists() else DEFAULTS_DIR / "_layout.html").read_text(
        encoding="utf-8")
    found: list[DefaultTemplate] = []
    for key_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")):
        key = key_dir.name
        for language in LANGUAGES:
            email = key_dir / f"email.{language}.txt"
            if email.exists():
                subject, body = _parse(email)
                found.append(DefaultTemplate(key, "email", language, subject, body, layout))
                if key not in EMAIL_ONLY:
                    letter = key_dir / f"letter.{language}.txt"
                    subject_l, body_l = _parse(letter) if letter.exists() else (subject, body)
                    found.append(DefaultTemplate(key, "letter", language, subject_l, body_l, None))
            sms = key_dir / f"sms.{language}.txt"
            if sms.exists():
                found.append(DefaultTemplate(key, "sms", language, None, _parse(sms)[1], None))
    return found


def install_defaults(folder: Path = DEFAULTS_DIR) -> int:
    """Install the shipped templates (and the channel plugins' rows); returns rows added."""
    from app.core.plugins import sync_plugin_configs

    added = 0
    for default in load_defaults(folder):
        added += _install(default)
    sync_plugin_configs()
    db.session.commit()
    if added:
        log.info("installed %s default message template version(s)", added)
    return added


def _install(default: DefaultTemplate) -> int:
    newest = db.session.scalar(
        select(MessageTemplate)
        .where(MessageTemplate.key == default.key, MessageTemplate.channel == default.channel,
               MessageTemplate.language == default.language)
        .order_by(MessageTemplate.version.desc()).limit(1))
    if newest is not None:
        if newest.created_by_id is not None:
            return 0  # staff wrote this version: theirs wins, always
        if (newest.subject, newest.body_text, newest.body_html) == (
                default.subject, default.body_text, default.body_html):
            return 0
    db.session.add(MessageTemplate(
        key=default.key, channel=default.channel, language=default.language,
        version=(newest.version + 1) if newest is not None else 1, active=True,
        subject=default.subject, body_text=default.body_text, body_html=default.body_html))
    return 1
