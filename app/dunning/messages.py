"""The reminder a customer receives: what its template sees, and queueing it in the outbox.

One message per customer per run (per channel), at the highest level reached, listing every
overdue invoice with its amount, due date, days late and fees, and how to pay: the IBAN, the
structured communication, the invoice PDFs with their EPC QR code attached, and links into the
portal to pay or to ask for a payment plan.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy import inspect

from app.core.i18n import language_locale
from app.core.links import portal_link, portal_path
from app.core.settings import company_details, get_settings
from app.core.time import BUSINESS_TZ
from app.customers.models import Customer
from app.dunning import calendar, rules
from app.dunning.engine import Decision, InvoiceDecision
from app.dunning.fees import BE_CONSUMER_WAIT_DAYS
from app.dunning.snapshot import InvoiceDetails, invoice_details
from app.extensions import db
from app.invoices.references import format_ogm, format_rf
from app.notifications.context import public_url
from app.notifications.events import register_reminder_samples
from app.notifications.models import Message
from app.notifications.outbox import NoRecipient, channels_for, queue_message, recipient_for

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")


def resolve_channels(customer: Customer, wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    """[(channel, recipient)] a level's message goes out on.

    The customer's preferences decide between e-mail and letter (paper customers get letters),
    SMS needs the customer's opt-in; a level that names "letter" explicitly (a formal notice)
    also gets a letter when the customer reads e-mail. Channels without an address are dropped.
    """
    chosen = channels_for(customer, dunning=True, wanted=list(wanted))
    if "letter" in wanted and "letter" not in chosen:
        chosen.append("letter")
    found = []
    for channel in chosen:
        try:
            found.append((channel, recipient_for(customer, channel, dunning=True)))
        except NoRecipient:
            log.warning("customer %s: no %s address for a reminder", customer.number, channel)
    return found


def deadline_for(decision: Decision, effective: date) -> date:
    """The last day to pay before the next step: the day before its wait is over."""
    wait = (decision.next_level.min_days_since_previous if decision.next_level is not None
            else BE_CONSUMER_WAIT_DAYS)
    return effective + timedelta(days=max(wait - 1, 0))


def payment_reference(decision: Decision, details: InvoiceDetails, creditor_iban: str) -> str:
    """The Belgian structured communication for Belgian customers paying a Belgian account, else
    the international RF reference (as on the invoice's QR code)."""
    if creditor_iban.startswith("BE") and decision.customer.country == "BE":
        return format_ogm(details.structured_reference)
    return format_rf(details.rf_reference)


def percent(value: Decimal | None, language: str) -> str:
    """10.15 -> "10,15" in French and Dutch; "" when there is no rate (templates test it)."""
    if value is None:
        return ""
    return format_decimal(value, format="0.##", locale=language_locale(language))


def invoice_context(decision: Decision, item: InvoiceDecision, details: InvoiceDetails,
                    creditor_iban: str, language: str) -> dict[str, Any]:
    inv = item.invoice
    return {
        "number": inv.number, "description": details.description or "",
        "issue_date": details.issue_date, "due_date": inv.due_date,
        "days_late": max(item.days_late, 0), "days_until_due": max(-item.days_late, 0),
        "open_amount": inv.open_amount, "amount": item.amount,
        "disputed_amount": inv.open_amount - item.amount,
        "lump_sum": item.fees.lump_sum, "interest": item.fees.interest, "fees": item.fees.total,
        "interest_rate": percent(item.fees.rate, language),
        "total": item.amount + item.fees.total,
        "reference": payment_reference(decision, details, creditor_iban),
        "currency": details.currency, "new_level": item.advances_to is not None,
    }


def message_context(decision: Decision, run_date: date, channel: str, links: dict[str, str],
                    language: str, details: dict[int, InvoiceDetails]) -> dict[str, Any]:
    """Everything a dunning template may use (see templates_default/README.md)."""
    company = company_details()
    iban = str(company.get("iban") or "")
    listed = decision.listed
    effective = calendar.effective_on(run_date, [channel])
    rates = [i.fees.rate for i in listed if i.fees.rate is not None]
    level = decision.level
    return {
        "run_date": run_date,
        "level": {"name": level.name, "sequence": level.sequence, "tone": level.tone},
        "invoices": [invoice_context(decision, item, details[item.invoice.id], iban, language)
                     for item in listed],
        "invoice_count": len(listed),
        "total_due": decision.amount_due,
        "total_fees": decision.fee_total,
        "total_with_fees": decision.amount_due + decision.fee_total,
        "fixed_fee": decision.fixed_fee,
        "interest_rate": percent(max(rates) if rates else None, language),
        "currency": details[listed[0].invoice.id].currency if listed else "EUR",
        "received_on": effective,
        "deadline": deadline_for(decision, effective),
        "next_fees": decision.next_fees,
        "next_rate": percent(decision.next_rate, language),
        "next_level": decision.next_level.name if decision.next_level else "",
        "payment": {"iban": _format_iban(iban), "bic": company.get("bic") or "",
                    "beneficiary": company.get("name") or "",
                    "reference": (payment_reference(decision, details[listed[0].invoice.id],
                                                    iban) if len(listed) == 1 else "")},
        "pay_url": links["pay"], "plan_url": links["plan"],
    }


def _format_iban(iban: str) -> str:
    from app.core.bank_identifiers import format_iban

    return format_iban(iban) if iban else ""


def portal_links(customer: Customer) -> dict[str, str]:
    """Deep links into the portal: pay everything overdue, ask for a payment plan.

    They open the portal after the customer signs in (app.core.links.portal_link); while the
    portal is not mounted (an install without it), plain addresses are used.
    """
    try:
        pay = portal_link(customer, portal_path("pay_overdue"))
        return {"pay": pay, "plan": portal_link(customer, portal_path("plan_wizard"))}
    except (LookupError, RuntimeError):
        from app.notifications.context import public_url

        return {"pay": public_url("/portal/pay"), "plan": public_url("/portal/plan")}


def queue_reminder(customer: Customer, decision: Decision, run_date: date,
                   details: dict[int, InvoiceDetails] | None = None,
                   settings: dict[str, Any] | None = None) -> list[Message]:
    """Queue the reminder on each of the level's channels; [] when no channel has an address.

    The idempotency key is ``dunning:<date>:<customer id>``: the same run date never sends a
    customer a second reminder on a channel.
    """
    level = decision.level
    channels = resolve_channels(customer, level.channels)
    if not channels:
        return []
    settings = settings or get_settings(rules.KEYS)
    if details is None:
        details = invoice_details([item.invoice.id for item in decision.listed])
    links = portal_links(customer)
    pay_link = reminder_pay_link(decision, links["pay"])
    attach = [{"invoice_id": item.invoice.id} for item in
              decision.listed[:max(int(settings["dunning.max_attached_invoices"]), 0)]]
    quiet = calendar.parse_quiet_hours(settings["dunning.sms_quiet_hours"])
    messages: list[Message] = []
    # No autoflush: if a later channel's template fails, the earlier channels' messages are
    # still pending and can be taken back (all channels or none).
    with db.session.no_autoflush:
        try:
            for channel, recipient in channels:
                context = message_context(decision, run_date, channel, links,
                                          customer.language, details)
                queued = queue_message(
                    customer, event=f"dunning.{level.tone}", template_key=level.template_key,
                    context=context,
                    idempotency_key=f"dunning:{run_date.isoformat()}:{customer.id}",
                    channels=[channel], dunning=True, recipient=recipient,
                    attachments=attach if channel in ("email", "letter") else None,
                    language=customer.language,
                    links={"pay_url": pay_link} if pay_link is not None else None)
                for message in queued:
                    if message.channel == "sms" and message.id is None:
                        message.next_attempt_at = _after_quiet_hours(quiet)
                messages.extend(queued)
        except Exception:
            for message in messages:
                if inspect(message).pending:
                    db.session.expunge(message)
            raise
    return messages


def reminder_pay_link(decision: Decision, fallback: str):
    """What the reminder asks queue_message for as its ``pay_url``: a pay link of its own for
    every message written (app.paylinks, registered in app.notifications.message_links), bound
    to that message and its listed invoices, payable without signing in; ``fallback`` (the
    portal's pay page) when none can be made. None for the hand-over to the collection agency
    (it asks nobody to pay us)."""
    from app.notifications.message_links import PAY_LINK, LinkRequest

    if decision.level.tone == "collection":  # the agency collects from now on, not us
        return None
    before_due = all(item.days_late <= 0 for item in decision.listed)
    return LinkRequest(PAY_LINK, {"invoice_ids": [item.invoice.id for item in decision.listed],
                                  "purpose": "due_soon" if before_due else "pay"}, fallback)


def _after_quiet_hours(quiet) -> datetime:
    """Now, or the end of the SMS quiet hours (no reminder SMS at night)."""
    now = datetime.now(BUSINESS_TZ)
    return calendar.after_quiet_hours(now, quiet)


def sample_context(customer: Customer) -> dict[str, Any]:
    """Believable values for every variable of the dunning templates (the template preview).

    Nothing is read or written: the values are made up around today's date.
    """
    from app.core.time import business_today

    today = business_today()
    language = customer.language or "en"
    company = company_details()
    invoice = {
        "number": "INV-000123", "description": "Services", "issue_date": today - timedelta(days=45),
        "due_date": today - timedelta(days=15), "days_late": 15, "days_until_due": 0,
        "open_amount": Decimal("125.00"), "amount": Decimal("125.00"),
        "disputed_amount": ZERO, "lump_sum": Decimal("20.00"), "interest": Decimal("0.52"),
        "fees": Decimal("20.52"), "interest_rate": percent(Decimal("10.15"), language),
        "total": Decimal("145.52"), "reference": "+++090/9337/55493+++", "currency": "EUR",
        "new_level": True,
    }
    return {
        "run_date": today, "level": {"name": "Reminder", "sequence": 1, "tone": "friendly"},
        "invoices": [invoice], "invoice_count": 1, "total_due": Decimal("125.00"),
        "total_fees": Decimal("20.52"), "total_with_fees": Decimal("145.52"), "fixed_fee": ZERO,
        "interest_rate": percent(Decimal("10.15"), language), "currency": "EUR",
        "received_on": today + timedelta(days=1), "deadline": today + timedelta(days=15),
        "next_fees": Decimal("20.00"), "next_rate": percent(Decimal("10.15"), language),
        "next_level": "Second reminder",
        "payment": {"iban": _format_iban(str(company.get("iban") or "")),
                    "bic": company.get("bic") or "", "beneficiary": company.get("name") or "",
                    "reference": invoice["reference"]},
        "pay_url": "https://example.invalid/portal/pay",
        "plan_url": "https://example.invalid/portal/plan",
    }


def reminder_samples(key: str, language: str) -> dict[str, Any]:
    """A reminder template's sample values for the template editor's preview and the check when
    it is saved (app.notifications.events asks, register_reminder_samples): the dunning
    variables in ``language``, the level that names ``key`` when one does, and a notice before
    the due date that is not late yet."""
    from types import SimpleNamespace

    from sqlalchemy import select

    from app.core.time import business_today
    from app.dunning.models import DunningLevel

    values = sample_context(SimpleNamespace(language=language))
    values["pay_url"] = public_url("/portal/p/SAMPLE-PAY")
    values["plan_url"] = public_url("/portal/go/SAMPLE-PLAN")
    level = db.session.scalar(select(DunningLevel).where(DunningLevel.template_key == key)
                              .order_by(DunningLevel.id).limit(1))
    if level is not None:
        values["level"] = {"name": level.name, "sequence": level.sequence, "tone": level.tone}
    if key == "dunning_pre_due":  # a notice before the due date: nothing is late yet
        for invoice in values["invoices"]:
            invoice.update(due_date=business_today() + timedelta(days=3), days_late=0,
                           days_until_due=3)
    return values


register_reminder_samples(reminder_samples)
