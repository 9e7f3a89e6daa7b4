"""E-mail over SMTP (smtplib): plain, STARTTLS or SSL; text + HTML parts; invoice PDFs attached.

Host, port and sender default to the SMTP_HOST, SMTP_PORT and MAIL_FROM environment variables;
staff may override them in Settings → Plugins. The password is a secret: it is read from
CREDITDESK_PLUGIN_EMAIL_SMTP_PASSWORD only.
"""
from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec


def _build(settings):
    from plugins.email_smtp.channel import SmtpChannel

    return SmtpChannel(settings)


plugin = PluginSpec(
    name="email_smtp", kind="channel", channel="email", priority=10,
    label=_l("E-mail (SMTP)"),
    description=_l("Sends e-mail through your mail server. Without a host it stays unused and "
                   "mail goes to the local mailbox."),
    factory=_build, enabled_by_default=True,
    settings=(
        PluginSetting("host", _l("SMTP server (empty: SMTP_HOST)"), default=""),
        PluginSetting("port", _l("Port (empty: SMTP_PORT)"), default=None),
        PluginSetting("security", _l("Security: none, starttls or ssl"), default="none"),
        PluginSetting("username", _l("User name"), default=""),
        PluginSetting("password", _l("Password"), secret=True),
        PluginSetting("from_address", _l("Sender address (empty: MAIL_FROM)"), default=""),
        PluginSetting("timeout", _l("Timeout in seconds"), default=30),
    ),
)
