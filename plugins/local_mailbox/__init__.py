"""The local mailbox: where e-mail goes on the embedded default, when no SMTP server is set.

Nothing leaves the machine: the message row itself is the mail (marked sent, provider
"local_mailbox"), staff read it under Messages → Mailbox, and the console shows a line with the
mailbox link and the links in the mail (e.g. a portal log-in link) so that a developer can
follow them. A secret in a mail (a sign-in link, a code) is hidden in the stored copy like in
every message; only the console line carries it.

On the embedded default only, the local mailbox also takes SMS (``sms_plugin``, shown as SMS
in the mailbox), so that `python run.py` demonstrates the SMS opt-in code journey: the stored
copy has the code hidden, the console of run.py prints the text with the real code.
"""
from __future__ import annotations

import logging
import re

from flask import current_app
from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec

log = logging.getLogger("creditdesk.mailbox")
_LINK = re.compile(r"https?://[^\s<>\"']+")


class LocalMailbox:
    def __init__(self, settings: dict) -> None:
        self.echo = bool(settings.get("print_to_console", True))

    def is_configured(self) -> bool:
        return True

    def send(self, message) -> str:
        from app.core.links import PublicUrlMissing, absolute

        try:
            where = absolute(f"/mailboxview/show/{message.id}")
        except PublicUrlMissing:
            where = f"/mailboxview/show/{message.id}"
        line = (f"[mailbox] to {message.recipient}: {message.subject or ''} — read it at "
                f"{where}")
        # The log keeps no link: a sign-in link in it would be a secret readable by whoever
        # reads the logs. The stored copy (Messages → Mailbox) has the secret hidden too; the
        # real links are printed on the console of `python run.py` only, for the developer.
        log.info(line)
        if self.echo and not current_app.config.get("PUBLIC_URL_REQUIRED"):
            # production's stdout ends up in the logs: the links are printed on the embedded
            # default only
            links = _LINK.findall(message.body_text or "")
            if links:
                line += "\n[mailbox]   links: " + "  ".join(links)
            print(line, flush=True)
        return f"local-mailbox:{message.id}"

    def close(self) -> None:
        pass


def _embedded() -> bool:
    """The embedded default (python run.py): no public URL required, nothing is deployed."""
    return not current_app.config.get("PUBLIC_URL_REQUIRED")


class LocalSmsBox(LocalMailbox):
    """SMS kept in the local mailbox on the embedded default; elsewhere not configured, so an
    SMS gateway (or nothing) delivers them."""

    def is_configured(self) -> bool:
        return _embedded()

    def send(self, message) -> str:
        from app.core.links import PublicUrlMissing, absolute

        try:
            where = absolute(f"/mailboxview/show/{message.id}")
        except PublicUrlMissing:
            where = f"/mailboxview/show/{message.id}"
        log.info("[mailbox] SMS to %s — read it at %s", message.recipient, where)
        if self.echo and _embedded():
            # The text with its real code, for the developer at the console only: the stored
            # copy staff read in the mailbox has the code hidden.
            print(f"[mailbox] SMS to {message.recipient}: {message.body_text or ''}\n"
                  f"[mailbox]   read it at {where}", flush=True)
        return f"local-mailbox-sms:{message.id}"


plugin = PluginSpec(
    name="local_mailbox", kind="channel", channel="email", priority=90,
    label=_l("Local mailbox"),
    description=_l("Keeps e-mail inside CreditDesk (Messages → Mailbox) when no SMTP server is "
                   "configured."),
    factory=LocalMailbox, enabled_by_default=True,
    settings=(PluginSetting("print_to_console", _l("Print each mail's links on the console"),
                            default=True),),
)

sms_plugin = PluginSpec(
    name="local_mailbox_sms", kind="channel", channel="sms", priority=90,
    label=_l("Local mailbox for SMS"),
    description=_l("On the embedded default (python run.py) only: keeps SMS inside CreditDesk "
                   "(Messages → Mailbox) and prints them on the console."),
    factory=LocalSmsBox, enabled_by_default=True,
    settings=(PluginSetting("print_to_console", _l("Print each SMS on the console"),
                            default=True),),
)
