"""Why the engine decided what it decided: reason codes with their figures, told in words.

The engine records a reason as (code, params) — cheap to build for 100,000 customers, stored as
JSON on the DunningAction — and a person reads it in their own language when it is shown
(CLI, dry-run screen, the action's page).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.i18n import day, money

TEXTS = {
    # customer level
    "legal_status": _l("No reminders: the customer's legal status is \"%(status)s\"."),
    "paused": _l("Reminders paused until %(until)s: %(reason)s"),
    "held": _l("Reminders wait until %(until)s: %(reason)s"),
    "unmatched_payment": _l("A payment of %(amount)s received on %(on)s is not matched yet: "
                            "reminders wait up to %(days)s days for it to be matched."),
    "no_policy": _l("No active dunning policy applies to this customer (%(segment)s, "
                    "%(country)s)."),
    "policy_inactive": _l("The customer's own dunning policy \"%(policy)s\" is inactive."),
    "policy": _l("Policy \"%(policy)s\" (%(why)s)."),
    "recent_message": _l("A reminder went out on %(on)s: at most one every %(days)s days, so "
                         "the next one waits until %(until)s."),
    "salary_day": _l("The customer prefers to pay on day %(payday)s of the month: the reminder "
                     "waits until %(until)s."),
    "below_minimum": _l("The amount to remind, %(amount)s, is under the minimum of "
                        "%(minimum)s."),
    "nothing_overdue": _l("Nothing overdue to remind."),
    "already_done": _l("Already reminded on %(on)s by an earlier run of that date."),
    "no_address": _l("No address to send the reminder to on %(channels)s."),
    "nothing_new": _l("No invoice reaches a new level today; the next step is possible on "
                      "%(until)s."),
    "nothing_new_last": _l("Every overdue invoice is at the policy's last level."),
    "level_chosen": _l("Level %(sequence)s \"%(level)s\": the highest level reached by an "
                       "invoice today."),
    "handover": _l("Hand-over to the collection agency."),
    # invoice level
    "blocked": _l("Excluded from reminders by hand: %(reason)s"),
    "held_invoice": _l("Reminder waits until %(until)s: %(reason)s"),
    "disputed": _l("Disputed: the whole open amount (%(amount)s) is contested."),
    "partly_disputed": _l("%(amount)s is disputed: only %(rest)s is reminded."),
    "deferral": _l("Payment deferred until %(until)s (promise to pay)."),
    "deferral_broken": _l("The promise to pay by %(until)s was not kept: reminders resume."),
    "plan": _l("In payment plan #%(plan)s, which is being kept."),
    "plan_broken": _l("Payment plan #%(plan)s is broken (instalment due on %(on)s unpaid): "
                      "reminders resume."),
    "not_yet_due": _l("Not due yet (due on %(due)s)."),
    "pre_due": _l("Due on %(due)s: friendly notice %(days)s days before."),
    "advances": _l("%(days)s days overdue: reaches level %(sequence)s \"%(level)s\" (it comes "
                   "%(needed)s days after %(basis)s, and at least %(wait)s days after the "
                   "previous reminder was received)."),
    "waiting": _l("At level %(current)s; level %(sequence)s \"%(level)s\" is possible on "
                  "%(until)s."),
    "last_level": _l("Already at the last level (%(current)s)."),
    "level_minimum": _l("Level %(sequence)s \"%(level)s\" needs at least %(minimum)s overdue "
                        "(%(amount)s): stays at level %(current)s."),
}

# Words the engine records as codes, told in the reader's language.
WORDS = {
    "why": {"own": _l("the customer's own policy"),
            "country": _l("the policy of the customer's segment and country"),
            "segment": _l("the policy of the customer's segment, for any country")},
}
MONEY_PARAMS = {"amount", "minimum", "rest", "total"}
DATE_PARAMS = {"until", "on", "due"}


class Reason(NamedTuple):
    """A reason code and its figures (a tuple: built ~150,000 times in a full dry run)."""

    code: str
    params: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": {k: _plain(v) for k, v in self.params.items()}}

    def text(self) -> str:
        return render(self.code, self.params)


def reason(code: str, **params: Any) -> Reason:
    return Reason(code, params)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render(code: str, params: dict[str, Any]) -> str:
    """The reason in the reader's language (inside a request or force_locale)."""
    template = TEXTS.get(code)
    if template is None:
        return code
    shown = {}
    for key, value in params.items():
        if key in MONEY_PARAMS and value is not None:
            shown[key] = money(Decimal(str(value)))
        elif key in DATE_PARAMS and value:
            shown[key] = day(value if isinstance(value, date) else date.fromisoformat(value))
        elif key in WORDS:
            shown[key] = str(WORDS[key].get(value, value))
        elif key == "segment":
            from app.dunning.models import SEGMENTS

            shown[key] = str(SEGMENTS.get(value, value))
        elif key == "basis":
            from app.dunning.models import DAY_BASES

            shown[key] = str(DAY_BASES.get(value, value))
        elif key in ("policy", "level"):
            from app.dunning.shipped_names import shipped_name

            shown[key] = shipped_name(value)
        elif key == "status":
            from app.customers.models import LEGAL_STATUSES

            shown[key] = str(LEGAL_STATUSES.get(value, value))
        else:
            shown[key] = "" if value is None else str(value)
    try:
        # The msgid of the lazy text, translated now with the figures filled in.
        return _(template._args[0], **shown)
    except (KeyError, ValueError):  # a stored reason from an older version of a text
        return f"{code} {params}"


def render_json(item: dict[str, Any]) -> str:
    """A reason stored on a DunningAction, in words."""
    return render(item.get("code", ""), item.get("params") or {})
