"""Reads the AR mailbox over IMAP (imaplib): IMAPS, STARTTLS or plain (loopback tests only).

Microsoft 365 and Google Workspace work through IMAP with an app password. The password is a
secret: it is read from CREDITDESK_PLUGIN_IMAP_INBOUND_PASSWORD only. Without a host the plugin
stays unused (the embedded default reads no mailbox).
"""
from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec


def _build(settings):
    from plugins.imap_inbound.mailbox import ImapMailbox

    return ImapMailbox(settings)


def _status():
    from app.inbound.polling import mailbox_status

    return mailbox_status("imap_inbound")


plugin = PluginSpec(
    name="imap_inbound", kind="inbound",
    label=_l("Customers' e-mail replies (IMAP)"),
    description=_l("Reads the mailbox customers reply to, ties each reply to its customer and "
                   "shows it on the 360° page. Without a host it stays unused."),
    factory=_build, enabled_by_default=True, status=_status,
    settings=(
        PluginSetting("host", _l("IMAP server"), default=""),
        PluginSetting("port", _l("Port (empty: 993 for ssl, else 143)"), default=None),
        PluginSetting("security", _l("Security: ssl, starttls or none"), default="ssl"),
        PluginSetting("username", _l("User name"), default=""),
        PluginSetting("password", _l("Password"), secret=True),
        PluginSetting("folder", _l("Folder to read"), default="INBOX"),
        PluginSetting("after_read", _l("After reading: move or flag"), default="move"),
        PluginSetting("processed_folder", _l("Folder read messages are moved to"),
                      default="CreditDesk-Processed"),
        PluginSetting("ca_file", _l("CA certificate file (empty: the system's)"), default=""),
        PluginSetting("timeout", _l("Timeout in seconds"), default=30),
    ),
)
