"""Why a request needs a person, and system-written subjects: codes with their figures.

A rule that sends a request to staff is stored as ``{"code": "amount_above_limit",
"amount": "1500.00", "limit": "1000.00"}`` and rendered when it is read, in the reader's
language: staff in their UI language, the customer in the portal's current language. Amounts
are stored as strings (exact decimals), dates as ISO strings. An unknown code (a newer version
wrote it) shows nothing rather than a wrong sentence; rows from before the codes keep their
stored text (``referral_reason``, ``subject``) as the fallback.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

from app.core.i18n import day, money


def _money(value: Any) -> str:
    try:
        return money(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return str(value)


def _day(value: Any) -> str:
    try:
        return day(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _legal_status(p: dict) -> str:
    return {
        "legal_proceedings": _("Your file is in legal proceedings."),
        "collection_agency": _("Your file is with our collection agency."),
        "insolvent": _("An insolvency procedure is registered for your account."),
    }.get(p.get("status"), _("Your account has a legal status that needs a person to look at "
                             "it."))


# code -> renderer(figures) in the current locale. The sentences are the ones the rules always
# used, so their translations are shared.
REASONS: dict[str, Callable[[dict], str]] = {
    "legal_status": _legal_status,
    "amount_above_limit": lambda p: _(
        "A deferral is approved at once up to %(amount)s; yours is for %(total)s.",
        amount=_money(p.get("limit")), total=_money(p.get("amount"))),
    "deferral_too_long": lambda p: _(
        "A deferral is approved at once for at most %(days)s days.", days=p.get("days")),
    "already_deferred": lambda p: _(
        "Invoice %(numbers)s has already been deferred once.", numbers=p.get("numbers")),
    "plan_running": lambda p: _("You already have a payment plan that is running."),
    "plan_broken_recently": lambda p: _(
        "A payment plan was not kept in the last %(months)s months.", months=p.get("months")),
    "plan_above_tiers": lambda p: _(
        "Plans above %(amount)s are decided by our team.", amount=_money(p.get("limit"))),
    "plan_too_many_installments": lambda p: _(
        "For %(total)s a plan is approved at once with at most %(count)s instalments.",
        total=_money(p.get("amount")), count=p.get("max_installments")),
    "plan_installment_too_small": lambda p: _(
        "Each instalment must be at least %(amount)s.", amount=_money(p.get("minimum"))),
}

SUBJECTS: dict[str, Callable[[dict], str]] = {
    "refund": lambda p: _("Refund of %(amount)s", amount=_money(p.get("amount"))),
    "mandate": lambda p: _("Direct debit mandate %(reference)s", reference=p.get("reference")),
    "mandate_revoked": lambda p: _("Direct debit mandate %(reference)s revoked",
                                   reference=p.get("reference")),
    "refund_account": lambda p: _("New refund bank account ending in %(last4)s",
                                  last4=p.get("last4")),
    "preferences": lambda p: _("Preferences"),
    "data_change": lambda p: _("Change of details"),
    "data_copy": lambda p: _("Copy of my data (%(format)s)", format=p.get("format")),
    "erasure": lambda p: _("Erasure of my data"),
    "invoices": lambda p: str(p.get("numbers") or ""),
}


class Reason:
    """One refused rule: a code and its figures; calling it renders it in the current locale
    (so it can be used wherever a rule text function was expected)."""

    def __init__(self, code: str, **figures: Any) -> None:
        if code not in REASONS:
            raise ValueError(f"unknown reason code {code!r}")
        self.code = code
        self.figures = {k: (str(v) if isinstance(v, Decimal | date) else v)
                        for k, v in figures.items()}

    def as_dict(self) -> dict:
        return {"code": self.code, **self.figures}

    def __call__(self) -> str:
        return render_reason(self.as_dict()) or ""

    def __repr__(self) -> str:
        return f"Reason({self.as_dict()!r})"


def render_reason(stored: dict) -> str | None:
    renderer = REASONS.get((stored or {}).get("code"))
    return str(renderer(stored)) if renderer else None


def reasons_text(req: Any) -> list[str]:
    """Why this request needs a person, in the current locale; the stored text when the row
    has no codes (written before them)."""
    if req.referral_codes:
        return [text for text in (render_reason(r) for r in req.referral_codes) if text]
    return [line for line in (req.referral_reason or "").splitlines() if line.strip()]


def subject_code(code: str, **figures: Any) -> dict:
    if code not in SUBJECTS:
        raise ValueError(f"unknown subject code {code!r}")
    return {"code": code, **{k: (str(v) if isinstance(v, Decimal | date) else v)
                             for k, v in figures.items()}}


def subject_text(req: Any) -> str:
    """The request's subject in the current locale (the stored text when it has no code)."""
    stored = req.subject_code or {}
    renderer = SUBJECTS.get(stored.get("code"))
    return str(renderer(stored)) if renderer else (req.subject or "")
