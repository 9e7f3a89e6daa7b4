"""The self-service rules (deferral, payment plan, dispute) as settings, and what they share.

Every figure is a setting staff edit in Settings → Business rules (category "self_service").
A request inside the rules is approved at once; outside them it becomes a request for staff and
the customer is told which rule sent it there (``Outcome.refused_rules``, and the request's
``referral_reason`` in the customer's own language). Staff acting for the customer may pass
``user`` and ``override_reason`` to bypass the rules: the request records who and why.

The payment plan table, from small to large total amounts:
* below ``self_service.plan.single_payment_below``: no plan, a single payment (or a deferral);
* up to ``tierN_up_to``: at most ``tierN_max_installments`` instalments of at least
  ``tierN_min_installment`` each (tier 1, 2, 3; a tier whose "up to" is 0 is not used);
* above the last tier used: a staff decision.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.i18n import language_locale
from app.core.settings import get_settings, register_setting
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.requests.models import CustomerRequest, Deferral, PaymentPlan

CATEGORY = "self_service"


def _setting(key: str, default: Any, type_: str, label: Any, **extra: Any):
    return register_setting(f"self_service.{key}", default, type_, label, CATEGORY, **extra).key


DEFERRAL_MAX_DAYS = _setting(
    "deferral.max_days", 30, "days",
    _l("Deferral: the new date is at most this many days after the due date (or today)"),
    maximum=365)
DEFERRAL_MAX_AMOUNT = _setting(
    "deferral.max_amount", Decimal("1000.00"), "money",
    _l("Deferral: approved at once up to this total open amount"),
    help=_l("Customers see this limit in the portal; a larger deferral waits for a person."))
PLAN_SINGLE_PAYMENT_BELOW = _setting(
    "plan.single_payment_below", Decimal("100.00"), "money",
    _l("Payment plan: below this total, a single payment only (no plan)"))
PLAN_TIERS_DEFAULTS = ((Decimal("500.00"), 3, Decimal("50.00")),
                       (Decimal("2000.00"), 6, Decimal("100.00")),
                       (Decimal("5000.00"), 12, Decimal("150.00")))
PLAN_TIER_KEYS: list[tuple[str, str, str]] = []
for _n, (_up_to, _count, _minimum) in enumerate(PLAN_TIERS_DEFAULTS, start=1):
    PLAN_TIER_KEYS.append((
        _setting(f"plan.tier{_n}_up_to", _up_to, "money",
                 _l("Payment plan, tier %(n)s: for a total up to this amount (0: tier not used)",
                    n=_n)),
        _setting(f"plan.tier{_n}_max_installments", _count, "int",
                 _l("Payment plan, tier %(n)s: at most this many instalments", n=_n)),
        _setting(f"plan.tier{_n}_min_installment", _minimum, "money",
                 _l("Payment plan, tier %(n)s: each instalment at least this amount", n=_n)),
    ))
PLAN_MAX_INSTALLMENTS = _setting(
    "plan.max_installments", 24, "int",
    _l("Payment plan: most instalments a customer can ask for (staff decide above tier rules)"),
    minimum=1, maximum=120)
PLAN_MONTHS_AFTER_BROKEN = _setting(
    "plan.months_after_broken_plan", 12, "int",
    _l("Payment plan: no automatic approval this many months after a broken plan"))
PLAN_FIRST_INSTALLMENT_MIN_DAYS = _setting(
    "plan.first_installment_min_days", 5, "days",
    _l("Payment plan: the first instalment is due at least this many days from today"))
DISPUTE_MAX_FILE_MB = _setting(
    "dispute.max_file_mb", 5, "int", _l("Dispute: largest attachment accepted (MB)"))
DISPUTE_MAX_FILES = _setting(
    "dispute.max_files", 5, "int", _l("Dispute: most attachments per dispute"))


def rules(*keys: str) -> dict[str, Any]:
    return get_settings(keys)


@dataclass(frozen=True)
class PlanTier:
    up_to: Decimal
    max_installments: int
    min_installment: Decimal


def plan_tiers() -> tuple[Decimal, list[PlanTier]]:
    """(single payment below, tiers in ascending order); tiers with up_to 0 are left out.

    Tiers entered out of order are sorted, so a typo cannot make a larger amount easier."""
    keys = [PLAN_SINGLE_PAYMENT_BELOW] + [k for triple in PLAN_TIER_KEYS for k in triple]
    values = get_settings(keys)
    tiers = [PlanTier(values[a], max(values[b], 1), values[c]) for a, b, c in PLAN_TIER_KEYS
             if values[a] and values[a] > 0]
    tiers.sort(key=lambda t: t.up_to)
    return values[PLAN_SINGLE_PAYMENT_BELOW], tiers


# --- rule texts --------------------------------------------------------------------------------

# A refused rule is kept as a function that returns its text in the current locale, so that it
# can be rendered both for the person on the page and, for the record, in the customer's language.
RuleText = Callable[[], str]


def in_language(language: str | None, texts: Iterable[RuleText]) -> list[str]:
    with force_locale(language_locale(language or "en")):
        return [str(text()) for text in texts]


def legal_status_rule(customer: Customer) -> RuleText | None:
    from app.requests.reasons import Reason

    if (customer.legal_status or "none") == "none":
        return None
    return Reason("legal_status", status=customer.legal_status)


def reason_codes(texts: Iterable[RuleText]) -> list[dict]:
    """The refused rules as stored codes with their figures (app/requests/reasons.py)."""
    return [t.as_dict() for t in texts if hasattr(t, "as_dict")]


@dataclass
class Outcome:
    """What a deferral or plan request led to."""

    approved: bool
    request: CustomerRequest
    deferrals: list[Deferral] = field(default_factory=list)
    plan: PaymentPlan | None = None
    refused_rules: list[str] = field(default_factory=list)


# --- the invoices a request names ------------------------------------------------------------

def customer_open_invoices(customer: Customer, invoices: Iterable[Invoice | int],
                           field_name: str = "invoices") -> list[Invoice]:
    """The customer's open invoices among ``invoices`` (objects or ids), in due-date order.

    Another customer's invoice, or one that is not open, is refused (nothing changes)."""
    from flask_babel import gettext as _

    ids = sorted({i if isinstance(i, int) else i.id for i in invoices})
    if not ids:
        raise ValidationError({field_name: _("Choose at least one invoice.")})
    found = list(db.session.scalars(select(Invoice).where(
        Invoice.id.in_(ids), Invoice.customer_id == customer.id,
        invoice_is_open(), Invoice.open_amount > 0)
        .order_by(Invoice.due_date, Invoice.id)))
    if len(found) != len(ids):
        raise ValidationError({field_name: _(
            "One of the chosen invoices is not open on your account (any more).")})
    return found


def open_disputed(invoice_ids: list[int]) -> dict[int, Decimal]:
    """Open disputed amount per invoice (disputes and the invoice's own flag)."""
    from sqlalchemy import func

    from app.requests.models import Dispute

    if not invoice_ids:
        return {}
    found = {i: Decimal(a or 0) for i, a in db.session.execute(
        select(Dispute.invoice_id, func.sum(Dispute.amount))
        .where(Dispute.invoice_id.in_(invoice_ids), Dispute.status == "open")
        .group_by(Dispute.invoice_id))}
    return found


def payable(invoice: Invoice, disputed: dict[int, Decimal]) -> Decimal:
    """Open amount less what is disputed: what a deferral or plan is about."""
    amount = max(disputed.get(invoice.id, Decimal(0)), invoice.disputed_amount or Decimal(0))
    if invoice.disputed and not amount:
        amount = invoice.open_amount
    return max(invoice.open_amount - amount, Decimal("0.00"))


def in_active_plan(invoice_ids: list[int]) -> set[int]:
    from app.requests.models import plan_invoice

    if not invoice_ids:
        return set()
    return set(db.session.scalars(
        select(plan_invoice.c.invoice_id).join(PaymentPlan, PaymentPlan.id == plan_invoice.c.plan_id)
        .where(plan_invoice.c.invoice_id.in_(invoice_ids),
               PaymentPlan.status.in_(("active", "proposed")))))


def in_active_deferral(invoice_ids: list[int]) -> dict[int, Deferral]:
    """Invoice id -> its running deferral (a promise to pay by a date)."""
    if not invoice_ids:
        return {}
    return {d.invoice_id: d for d in db.session.scalars(
        select(Deferral).where(Deferral.invoice_id.in_(invoice_ids), Deferral.status == "active")
        .order_by(Deferral.new_due_date))}


def record_override(req: CustomerRequest, user: Any, reason: str) -> None:
    """Staff bypassed the rules: who and why, on the request."""
    req.payload = {**(req.payload or {}), "override": {
        "user_id": getattr(user, "id", None), "user": str(getattr(user, "username", "") or ""),
        "reason": reason}}
    req.decided_by_id = getattr(user, "id", None)
    req.decision_note = reason
