"""The replies' business rules (Settings → Business rules)."""
from __future__ import annotations

import time

from flask_babel import lazy_gettext as _l

from app.core.settings import get_setting, register_setting

PAUSE_DAYS = "inbound.pause_days"
PAID_HOLD_DAYS = "inbound.paid_hold_days"
REPLY_ADDRESS = "inbound.reply_address"
AUTO_ANSWER = "inbound.auto_answer"
ANSWER_GAP_HOURS = "inbound.answer_gap_hours"
MAX_MESSAGE_MB = "inbound.max_message_mb"

register_setting(PAUSE_DAYS, 7, "days",
                 _l("Days a customer's e-mail reply pauses their next reminder"), "dunning",
                 help=_l("Automatic replies (out of office, bounces) never pause anything."),
                 maximum=90)
register_setting(PAID_HOLD_DAYS, 10, "days",
                 _l("Days reminders wait for the bank line after a reply saying \"already "
                    "paid\""), "dunning", maximum=90)
register_setting(REPLY_ADDRESS, "", "email",
                 _l("Address customers reply to (the mailbox CreditDesk reads)"),
                 "notifications",
                 help=_l("Empty: the company e-mail. Each e-mail we send asks for replies at "
                         "this address with a signed token added after a \"+\"."))
register_setting(AUTO_ANSWER, True, "bool",
                 _l("Answer customers' e-mail replies with a link to the matching portal page"),
                 "notifications")
register_setting(ANSWER_GAP_HOURS, 24, "hours",
                 _l("Hours between two automatic answers to the same customer"),
                 "notifications", help=_l("Stops two automatic mailers answering each other."),
                 minimum=1, maximum=720)
register_setting(MAX_MESSAGE_MB, 15, "int",
                 _l("Largest e-mail read whole, in MB (larger: text only, for review)"),
                 "notifications", minimum=1, maximum=100)


_CACHE: dict[str, tuple[float, object]] = {}
CACHE_SECONDS = 30


def rule(key: str):
    """A setting read at most every 30 s by a process: a poll reads thousands of replies."""
    now = time.monotonic()
    found = _CACHE.get(key)
    if found is None or now - found[0] > CACHE_SECONDS:
        found = _CACHE[key] = (now, get_setting(key))
    return found[1]


def forget_cached() -> None:
    _CACHE.clear()


def reply_address() -> str:
    return (rule(REPLY_ADDRESS) or rule("company.email") or "").strip().lower()
