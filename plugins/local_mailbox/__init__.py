"""The local mailbox: where e-mail goes on the embedded default, when no SMTP server is set.

Nothing leaves the machine: the message row itself is the mail (marked sent, provider
"local_mailbox"), staff read it under Messages → Mailbox, and the console shows a line with the
mailbox link and the links in the mail (e.g. a portal log-in link) so that a developer can
follow them.
"""
from __future__ import annotations

import logging
import re

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
        from app.notifications.context import public_url

        links = _LINK.findall(message.body_text or "")
        line = (f"[mailbox] to {message.recipient}: {message.subject or ''} — read it at "
                f"{public_url(f'/mailboxview/show/{message.id}')}")
        if links:
            line += "\n[mailbox]   links: " + "  ".join(links)
        log.info(line)
        if self.echo:
            print(line, flush=True)
        return f"local-mailbox:{message.id}"

    def close(self) -> None:
        pass


plugin = PluginSpec(
    name="local_mailbox", kind="channel", channel="email", priority=90,
    label=_l("Local mailbox"),
    description=_l("Keeps e-mail inside CreditDesk (Messages → Mailbox) when no SMTP server is "
                   "configured."),
    factory=LocalMailbox, enabled_by_default=True,
    settings=(PluginSetting("print_to_console", _l("Print each mail's links on the console"),
                            default=True),),
)
