"""The pay links' settings (declared when app.models imports the pay link models)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.settings import register_setting

VALID_DAYS = register_setting(
    "paylinks.valid_days", 30, "days", _l("Pay links in messages stay valid for (days)"),
    "portal", minimum=1, maximum=365,
    help=_l("A pay link opens the amount to pay, without signing in, until its invoices are "
            "paid or this many days have passed.")).key
