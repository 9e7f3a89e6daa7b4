"""The notification rules staff can change (Settings → Business rules)."""
from flask_babel import lazy_gettext as _l

from app.core.settings import register_setting

# Used on the embedded default only: the PUBLIC_URL environment variable, required in
# production, wins over it (app/core/links.py), so the settings screen cannot redirect links.
register_setting("notifications.public_url", "http://127.0.0.1:5000", "url",
                 _l("Web address of CreditDesk, used in the links of messages when the "
                    "PUBLIC_URL environment variable is not set"),
                 "notifications")
# A message is "sending" from the moment its job takes it until its outcome is written; the
# clock restarts at most jobs.REFRESH_SECONDS (10 s) before its hand-over (jobs.Recorder
# .still_ours, once for the whole rest of the batch). A hand-over measures
# tens of milliseconds on a LAN and is capped by the SMTP plugin's 30 s timeout
# (tests/notifications/test_sweep_timing.py), so after 2 minutes the worker sending it is dead.
register_setting("notifications.stuck_after_minutes", 2, "minutes",
                 _l("Minutes after which a message still being sent is sent again"),
                 "notifications")
register_setting("notifications.max_attempts", 8, "int",
                 _l("Attempts before a message that keeps failing is marked failed"),
                 "notifications")
register_setting("notifications.instalment_notice_days", 5, "days",
                 _l("Days before an instalment is due that the customer is reminded"),
                 "notifications")
register_setting("notifications.renewal_notice_days", 45, "days",
                 _l("Days before a contract's renewal date that the renewal notice is sent"),
                 "notifications")
register_setting("notifications.webhook_events", "", "str",
                 _l("Events also sent to the webhook plugin (comma-separated, * for all)"),
                 "notifications")
