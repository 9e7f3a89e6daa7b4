"""What a fresh install ships for dunning: lawful default policies, rates, settings, messages.

``install_defaults()`` is idempotent: it only adds what is missing (a policy by name, a rate by
kind and date, a setting row by key, a template by key × channel × language), so staff edits
are never overwritten and it can run at every deploy.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.models import Setting
from app.core.settings import set_setting
from app.dunning import rules
from app.dunning.models import DunningLevel, DunningPolicy, ReferenceRate
from app.extensions import db

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates_default"


@dataclass(frozen=True)
class LevelSpec:
    sequence: int
    name: str
    tone: str
    template_key: str
    days_after_due: int = 0
    min_days_since_previous: int = 0
    days_basis: str = "due"
    channels: str = "email"
    fee_rule: str = "none"
    min_amount: Decimal = Decimal("0.00")
    active: bool = True


# Optional in every policy: a friendly "due in 3 days" notice, switched off until staff want it.
PRE_DUE = LevelSpec(0, "Due in 3 days", "pre_due", "dunning_pre_due", days_after_due=-3,
                    active=False)
# Hand-over only for amounts worth an agency's work (staff change it on the level).
COLLECTION_MINIMUM = Decimal("50.00")


def _collection(sequence: int, fee_rule: str, wait: int) -> LevelSpec:
    return LevelSpec(sequence, "Hand-over to the collection agency", "collection",
                     "dunning_collection", min_days_since_previous=wait, days_basis="previous",
                     fee_rule=fee_rule, min_amount=COLLECTION_MINIMUM)


def _business_levels(fee_rule: str) -> tuple[LevelSpec, ...]:
    return (
        PRE_DUE,
        LevelSpec(1, "Friendly reminder", "friendly", "dunning_reminder", days_after_due=7,
                  channels="email,sms"),
        LevelSpec(2, "Second reminder", "firm", "dunning_firm", min_days_since_previous=14,
                  days_basis="previous", channels="email,sms", fee_rule=fee_rule),
        LevelSpec(3, "Formal notice", "formal_notice", "dunning_formal_notice",
                  min_days_since_previous=14, days_basis="previous", channels="email,letter",
                  fee_rule=fee_rule),
        _collection(4, fee_rule, 14),
    )


# (name, segment, country, description, levels). Belgian consumers: 15 days between levels =
# the 14 calendar days of Book XIX counted from the day the reminder counts as received, plus
# one day so that the deadline stated in the reminder is itself a full day to pay.
POLICIES: tuple[tuple[str, str, str | None, str, tuple[LevelSpec, ...]], ...] = (
    ("Belgian consumers", "consumer", "BE",
     ("Code of Economic Law, Book XIX: a free first reminder with the mandatory content; nothing "
      "charged before 14 days after it (from the day after an e-mail, or the 3rd working day "
      "after a letter); then lump-sum damages and interest within the legal caps, only if your "
      "terms and conditions provide for them."),
     (PRE_DUE,
      LevelSpec(1, "First reminder (free)", "friendly", "dunning_be_consumer_first",
                days_after_due=7, channels="email,sms"),
      LevelSpec(2, "Second reminder", "firm", "dunning_firm", min_days_since_previous=15,
                days_basis="previous", channels="email,sms", fee_rule="be_consumer"),
      LevelSpec(3, "Formal notice (mise en demeure / ingebrekestelling)", "formal_notice",
                "dunning_formal_notice", min_days_since_previous=15, days_basis="previous",
                channels="email,letter", fee_rule="be_consumer"),
      _collection(4, "be_consumer", 15))),
    ("Dutch consumers", "consumer", "NL",
     ("Art. 6:96 BW: a reminder, then the 14-day letter stating the collection costs; the "
      "statutory cost scale only once its 14 days (from the day after receipt) have passed."),
     (PRE_DUE,
      LevelSpec(1, "Reminder (herinnering)", "friendly", "dunning_reminder", days_after_due=7,
                channels="email,sms"),
      LevelSpec(2, "14-day letter (veertiendagenbrief)", "firm", "dunning_nl_consumer_14_day",
                min_days_since_previous=7, days_basis="previous", channels="email,letter"),
      LevelSpec(3, "Formal notice (ingebrekestelling)", "formal_notice",
                "dunning_formal_notice", min_days_since_previous=15, days_basis="previous",
                channels="email,letter", fee_rule="nl_consumer"),
      _collection(4, "nl_consumer", 14))),
    ("Businesses (Belgium and EU)", "business", None,
     ("Belgian law of 2 August 2002 and Directive 2011/7/EU: interest at the reference rate + 8 "
      "points and €40 per late invoice, due without a reminder; we start with a friendly "
      "reminder and claim them from the second one."),
     _business_levels("b2b_late_payment")),
    ("French businesses", "business", "FR",
     ("Code de commerce L441-10 and D441-5: penalties from the day after the due date at the "
      "ECB rate + 10 points (at least 3x the legal rate) and the €40 recovery indemnity."),
     _business_levels("fr_business")),
    ("Consumers in other countries (no fees)", "consumer", None,
     ("Reminders without any fee: lawful everywhere. Give a country its own policy before "
      "charging anything there."),
     (PRE_DUE,
      LevelSpec(1, "Friendly reminder", "friendly", "dunning_reminder", days_after_due=7,
                channels="email,sms"),
      LevelSpec(2, "Second reminder", "firm", "dunning_firm", min_days_since_previous=14,
                days_basis="previous", channels="email,sms"),
      LevelSpec(3, "Formal notice", "formal_notice", "dunning_formal_notice",
                min_days_since_previous=14, days_basis="previous", channels="email,letter"),
      _collection(4, "none", 14))),
)

# Reference rates in force on the first day of each half-year. CHECK every new half-year against
# the official publication; rows marked "CHECK" repeat the last known value.
# ECB: rate of the main refinancing operations (Belgian law of 2 Aug 2002 art. 5, SPF Finances
# notice in the Moniteur belge; the same rate for Book XIX and France L441-10).
# FR legal rate: "taux de l'intérêt légal", case "autres cas" (creditor acting professionally),
# arrêté published in the Journal officiel each half-year.
RATES: tuple[tuple[str, date, str, str], ...] = (
    ("ecb", date(2023, 1, 1), "2.50", "ECB MRO rate on 1 January 2023"),
    ("ecb", date(2023, 7, 1), "4.00", "ECB MRO rate on 1 July 2023"),
    ("ecb", date(2024, 1, 1), "4.50", "ECB MRO rate on 1 January 2024"),
    ("ecb", date(2024, 7, 1), "4.25", "ECB MRO rate on 1 July 2024"),
    ("ecb", date(2025, 1, 1), "3.15", "ECB MRO rate on 1 January 2025"),
    ("ecb", date(2025, 7, 1), "2.15", "ECB MRO rate on 1 July 2025"),
    ("ecb", date(2026, 1, 1), "2.15", "CHECK: assumed unchanged, confirm with the ECB"),
    ("ecb", date(2026, 7, 1), "2.15", "CHECK: assumed unchanged, confirm with the ECB"),
    ("fr_legal", date(2023, 1, 1), "2.06", "Taux légal S1 2023, autres cas (CHECK)"),
    ("fr_legal", date(2023, 7, 1), "4.22", "Taux légal S2 2023, autres cas (CHECK)"),
    ("fr_legal", date(2024, 1, 1), "5.07", "Taux légal S1 2024, autres cas (CHECK)"),
    ("fr_legal", date(2024, 7, 1), "4.92", "Taux légal S2 2024, autres cas (CHECK)"),
    ("fr_legal", date(2025, 1, 1), "3.71", "Taux légal S1 2025, autres cas (CHECK)"),
    ("fr_legal", date(2025, 7, 1), "2.76", "Taux légal S2 2025, autres cas (CHECK)"),
    ("fr_legal", date(2026, 1, 1), "2.76", "CHECK: assumed unchanged, confirm in the JO"),
    ("fr_legal", date(2026, 7, 1), "2.76", "CHECK: assumed unchanged, confirm in the JO"),
)


# The shipped policies' descriptions, likewise: keyed by the exact English text a policy is
# installed with; a description staff edited (even by one character) is shown as typed.
SHIPPED_DESCRIPTIONS = {
    POLICIES[0][3]: _l(
        "Code of Economic Law, Book XIX: a free first reminder with the mandatory content; nothing "
        "charged before 14 days after it (from the day after an e-mail, or the 3rd working day "
        "after a letter); then lump-sum damages and interest within the legal caps, only if your "
        "terms and conditions provide for them."),
    POLICIES[1][3]: _l(
        "Art. 6:96 BW: a reminder, then the 14-day letter stating the collection costs; the "
        "statutory cost scale only once its 14 days (from the day after receipt) have passed."),
    POLICIES[2][3]: _l(
        "Belgian law of 2 August 2002 and Directive 2011/7/EU: interest at the reference rate + 8 "
        "points and €40 per late invoice, due without a reminder; we start with a friendly "
        "reminder and claim them from the second one."),
    POLICIES[3][3]: _l(
        "Code de commerce L441-10 and D441-5: penalties from the day after the due date at the "
        "ECB rate + 10 points (at least 3x the legal rate) and the €40 recovery indemnity."),
    POLICIES[4][3]: _l(
        "Reminders without any fee: lawful everywhere. Give a country its own policy before "
        "charging anything there."),
}


def shipped_description(text: str | None) -> str:
    """A policy description as the reader sees it: translated while it is the shipped text."""
    if not text:
        return text or ""
    label = SHIPPED_DESCRIPTIONS.get(text)
    return str(label) if label is not None else text


def install_defaults(*, templates: bool = True) -> dict[str, int]:
    """Add the missing default policies, rates, setting rows and templates; commits."""
    added = {"policies": install_policies(), "rates": install_rates(),
             "settings": install_settings()}
    if templates:
        added["templates"] = install_templates()
    db.session.commit()
    return added


def install_policies() -> int:
    existing = set(db.session.scalars(select(DunningPolicy.name)))
    added = 0
    for name, segment, country, description, levels in POLICIES:
        if name in existing:
            continue
        policy = DunningPolicy(name=name, segment=segment, country=country, active=True,
                               description=description)
        policy.levels = [DunningLevel(
            sequence=spec.sequence, name=spec.name, tone=spec.tone,
            template_key=spec.template_key, days_after_due=spec.days_after_due,
            days_basis=spec.days_basis, min_days_since_previous=spec.min_days_since_previous,
            channels=spec.channels, fee_rule=spec.fee_rule, fee_amount=Decimal("0.00"),
            min_amount=spec.min_amount, active=spec.active) for spec in levels]
        db.session.add(policy)
        added += 1
    db.session.flush()
    return added


def install_rates() -> int:
    existing = set(db.session.execute(select(ReferenceRate.kind, ReferenceRate.valid_from)).all())
    added = 0
    for kind, valid_from, rate, note in RATES:
        if (kind, valid_from) in existing:
            continue
        db.session.add(ReferenceRate(kind=kind, valid_from=valid_from, rate=Decimal(rate),
                                     note=note))
        added += 1
    db.session.flush()
    return added


def install_settings() -> int:
    """A row per dunning setting, so that staff see and change it in Business rules."""
    existing = set(db.session.scalars(select(Setting.key).where(Setting.key.in_(rules.KEYS))))
    added = 0
    for definition in rules.ALL:
        if definition.key in existing:
            continue
        set_setting(definition.key, definition.default)
        row = db.session.scalar(select(Setting).where(Setting.key == definition.key))
        row.description = str(definition.label)
        added += 1
    db.session.flush()
    return added


def install_templates() -> int:
    """The dunning messages, through the notifications domain's installer: the same file layout,
    the shared HTML layout around e-mails, and staff-edited versions never overwritten."""
    from app.notifications.defaults import install_defaults as install_message_templates

    return install_message_templates(TEMPLATES_DIR)
