"""The last level: handing a customer's overdue invoices over to a collection agency.

The hand-over happens after the run's batch is committed (the DunningAction exists with
handover_status "pending"), through the enabled plugin of kind "collection_agency". A plugin is
an object with ``hand_over(case: dict) -> str`` returning the agency's reference; the case id
(``CD-<action id>``) lets the agency recognise a case sent twice. On success the customer's legal
status becomes "collection_agency" (no more reminders; the portal shows it). A failure is kept on
the action and retried at the next run.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from app.core.models import utcnow
from app.core.plugins import PluginUnavailable, build, enabled_plugins
from app.core.settings import company_details
from app.customers.models import Customer
from app.dunning.models import DunningAction
from app.extensions import db
from app.invoices.models import Invoice

log = logging.getLogger(__name__)
KIND = "collection_agency"
RETRIED = ("pending", "failed")


def case_id(action: DunningAction) -> str:
    return f"CD-{action.id}"


def build_case(action: DunningAction) -> dict[str, Any]:
    """Everything the agency needs, as plain JSON-ready values (amounts as strings)."""
    customer: Customer = action.customer
    company = company_details()
    invoices = {i.id: i for i in db.session.scalars(
        select(Invoice).where(Invoice.id.in_(action.invoice_ids or [])))}
    address = next((a for a in customer.addresses if a.kind == "postal"), None) or next(
        iter(customer.addresses), None)
    history = db.session.scalars(select(DunningAction).where(
        DunningAction.customer_id == customer.id, DunningAction.run_date <= action.run_date)
        .order_by(DunningAction.run_date)).all()
    lines = {line.invoice_id: line for line in action.lines}
    return {
        "case_id": case_id(action),
        "handed_over_on": action.run_date.isoformat(),
        "creditor": {"name": company.get("name"), "enterprise_number":
                     company.get("enterprise_number"), "vat_number": company.get("vat_number"),
                     "iban": company.get("iban"), "address": company.get("address")},
        "debtor": {
            "number": customer.number, "name": customer.name, "kind": customer.kind,
            "vat_number": customer.vat_number, "language": customer.language,
            "email": customer.email, "phone": customer.phone,
            "address": ({"line1": address.line1, "line2": address.line2,
                         "postal_code": address.postal_code, "city": address.city,
                         "country": address.country} if address else None),
        },
        "invoices": [{
            "number": inv.number, "issue_date": inv.issue_date.isoformat(),
            "due_date": inv.due_date.isoformat(), "currency": inv.currency,
            "total_amount": str(inv.total_amount), "open_amount": str(inv.open_amount),
            "claimed_amount": str(lines[inv.id].amount if inv.id in lines else inv.open_amount),
            "fees": str(lines[inv.id].fees if inv.id in lines else 0),
            "structured_reference": inv.structured_reference,
        } for inv in (invoices[i] for i in action.invoice_ids or [] if i in invoices)],
        "total_claimed": str(action.amount_due),
        "total_fees": str(action.fee_amount),
        "reminders": [{"date": a.run_date.isoformat(), "level": a.level.name,
                       "tone": a.level.tone, "channels": a.channels} for a in history],
    }


def hand_over(action: DunningAction) -> bool:
    """Send one case to the agency; commits the outcome. True when the agency took it."""
    plugins = sorted(enabled_plugins(KIND), key=lambda spec: spec.name)
    if not plugins:
        return _failed(action, "No collection agency plugin is enabled (Settings → Plugins).")
    spec = plugins[0]
    try:
        agency = build(spec.name)
        reference = agency.hand_over(build_case(action))
    except PluginUnavailable as exc:
        return _failed(action, f"{spec.name}: {exc}")
    except Exception as exc:  # a third-party plugin or the agency failing: retried next run
        log.exception("hand-over of %s through %s failed", case_id(action), spec.name)
        return _failed(action, f"{spec.name}: {type(exc).__name__}: {exc}")
    action.handover_status, action.handover_plugin = "done", spec.name
    action.handover_reference, action.handover_error = str(reference or "")[:200], None
    action.handed_over_at = utcnow()
    action.customer.legal_status = "collection_agency"
    db.session.commit()
    log.info("customer %s handed over to %s as %s", action.customer.number, spec.name,
             action.handover_reference)
    return True


def _failed(action: DunningAction, error: str) -> bool:
    action.handover_status, action.handover_error = "failed", error[:2000]
    db.session.commit()
    return False


def hand_over_pending(action_ids: Collection[int] | None,
                      skip: Collection[int] = ()) -> Counter:
    """Hand over these actions (None: every pending or failed hand-over, any date, except
    those in ``skip``, already tried in this run)."""
    counts: Counter[str] = Counter()
    if action_ids is not None and not action_ids:
        return counts
    query = select(DunningAction).where(DunningAction.handover_status.in_(RETRIED))
    if action_ids is not None:
        query = query.where(DunningAction.id.in_(list(action_ids)))
    for action in db.session.scalars(query.order_by(DunningAction.id)).all():
        if action.id in skip:
            continue
        if action.customer.legal_status != "none" and action.customer.legal_status != \
                "collection_agency":
            # Proceedings or insolvency started meanwhile: the hand-over is not for an agency.
            action.handover_status = "cancelled"
            action.handover_error = f"Legal status is now {action.customer.legal_status}."
            db.session.commit()
            counts["handover_cancelled"] += 1
            continue
        counts["handed_over" if hand_over(action) else "handover_failed"] += 1
    return counts
