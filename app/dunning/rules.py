"""The dunning rules staff can change (Settings → Business rules), declared once at import.

Figures set by law live in app/dunning/fees.py as named constants (a law change is a code change
with its tests); what a credit manager tunes day to day lives here.
"""
from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l

from app.core.settings import register_setting

CATEGORY = "dunning"

MINIMUM_AMOUNT = register_setting(
    "dunning.minimum_amount", Decimal("5.00"), "money",
    _l("Reminders: smallest overdue amount a customer is reminded of"), CATEGORY)
MIN_DAYS_BETWEEN_MESSAGES = register_setting(
    "dunning.min_days_between_messages", 7, "days",
    _l("Reminders: at most one reminder per customer in this many days"), CATEGORY)
UNMATCHED_PAYMENT_DAYS = register_setting(
    "dunning.unmatched_payment_days", 5, "days",
    _l("Reminders wait while a payment received in the last N days is not matched yet"),
    CATEGORY)
SMS_QUIET_HOURS = register_setting(
    "dunning.sms_quiet_hours", "21:00-08:00", "time_range",
    _l("Reminders: no SMS between these hours (HH:MM-HH:MM, Brussels time)"), CATEGORY,
    group="messages", help=_l("An SMS due in these hours waits until they end. Leave empty "
                              "for no quiet hours."))
SALARY_DAY_WINDOW = register_setting(
    "dunning.salary_day_window", 5, "days",
    _l("Reminders wait when the customer's preferred payment day is at most this many days "
       "away"), CATEGORY)
SALARY_DAY_DELAY = register_setting(
    "dunning.salary_day_delay", 1, "days",
    _l("Reminders: days after the preferred payment day that a waiting reminder goes out"),
    CATEGORY)
PLAN_BROKEN_AFTER_DAYS = register_setting(
    "dunning.plan_broken_after_days", 10, "days",
    _l("A payment plan is broken when an instalment is this many days late"), CATEGORY)
BATCH_SIZE = register_setting(
    "dunning.batch_size", 500, "int",
    _l("Reminders: customers handled per transaction in a run"), CATEGORY)
MAX_ATTACHED_INVOICES = register_setting(
    "dunning.max_attached_invoices", 5, "int",
    _l("Reminders: invoice PDFs (with their payment QR code) attached at most"), CATEGORY)

# Interest margins and flat amounts: set by law, kept as settings because staff must be able
# to follow a change (or apply a lower contractual figure) without a new release.
BE_CONSUMER_INTEREST_MARGIN = register_setting(
    "dunning.be_consumer_interest_margin", Decimal(8), "percent",
    _l("Belgian consumers: interest at most the reference rate plus these points"), CATEGORY)
B2B_INTEREST_MARGIN = register_setting(
    "dunning.b2b_interest_margin", Decimal(8), "percent",
    _l("Businesses: late-payment interest is the reference rate plus these points"), CATEGORY)
B2B_COMPENSATION = register_setting(
    "dunning.b2b_compensation", Decimal("40.00"), "money",
    _l("Businesses: flat recovery compensation per late invoice"), CATEGORY)
FR_INTEREST_MARGIN = register_setting(
    "dunning.fr_interest_margin", Decimal(10), "percent",
    _l("French businesses: penalty rate is the reference rate plus these points"), CATEGORY)
FR_LEGAL_RATE_MULTIPLIER = register_setting(
    "dunning.fr_legal_rate_multiplier", Decimal(3), "decimal",
    _l("French businesses: the penalty rate is at least this many times the legal rate"),
    CATEGORY)
FR_INDEMNITY = register_setting(
    "dunning.fr_indemnity", Decimal("40.00"), "money",
    _l("French businesses: flat recovery indemnity per late invoice"), CATEGORY)

ALL = (MINIMUM_AMOUNT, MIN_DAYS_BETWEEN_MESSAGES, UNMATCHED_PAYMENT_DAYS, SMS_QUIET_HOURS,
       SALARY_DAY_WINDOW, SALARY_DAY_DELAY, PLAN_BROKEN_AFTER_DAYS, BATCH_SIZE,
       MAX_ATTACHED_INVOICES, BE_CONSUMER_INTEREST_MARGIN, B2B_INTEREST_MARGIN, B2B_COMPENSATION,
       FR_INTEREST_MARGIN, FR_LEGAL_RATE_MULTIPLIER, FR_INDEMNITY)
KEYS = tuple(d.key for d in ALL)
