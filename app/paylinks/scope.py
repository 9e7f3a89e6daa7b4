"""What a pay link's page shows: only its own invoices, with the portal's balance rules.

The amounts are the portal's (app.accounts.invoice_states: open amount less what is disputed,
nothing on an invoice a payment plan covers) and the transfer details are the pay page's
(app.accounts.bank_transfer: IBAN, structured communication, EPC QR). Nothing is computed a
second way here: this module only narrows them to the link's invoices. For an invoice in an
active payment plan, what is asked now is the plan's next unpaid instalment.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from app.accounts import bank_transfer
from app.accounts.invoice_states import InvoiceState, invoice_state
from app.core.models import ZERO
from app.core.time import business_today
from app.extensions import db
from app.invoices import epc
from app.paylinks.models import PayLink
from app.requests.models import Installment, PaymentPlan, plan_invoice

MAX_INVOICES = 50  # a reminder lists a handful; a link never opens a whole ledger


@dataclass
class DueInstallment:
    installment: Installment
    left: Decimal
    reference: str
    qr_data_uri: str | None = None


@dataclass
class PayNow:
    link: PayLink
    states: list[InvoiceState]                 # the link's invoices, paid ones too
    payable: list[InvoiceState]                # something to pay on them now
    transfer: bank_transfer.TransferDetails | None
    installments: list[DueInstallment] = field(default_factory=list)

    @property
    def invoices_total(self) -> Decimal:
        return sum((s.payable for s in self.payable), ZERO)

    @property
    def total(self) -> Decimal:
        """The amount to pay now: invoices (disputed parts excluded) and due instalments."""
        return self.invoices_total + sum((i.left for i in self.installments), ZERO)

    @property
    def settled(self) -> bool:
        return self.total < epc.MIN_AMOUNT

    @property
    def eligible(self) -> list[InvoiceState]:
        """Invoices a deferral or a plan can be asked for (the portal's own choice)."""
        return [s for s in self.payable if not s.in_plan and s.payable > 0]

    def invoice_ids(self) -> list[int]:
        return [s.invoice.id for s in self.eligible]


def pay_now(link: PayLink, today: date | None = None) -> PayNow:
    today = today or business_today()
    states = [s for s in (invoice_state(link.customer_id, invoice_id, today)
                          for invoice_id in list(link.invoice_ids or [])[:MAX_INVOICES])
              if s is not None]
    states.sort(key=lambda s: (s.effective_due, s.invoice.id))
    payable = [s for s in states if s.payable >= epc.MIN_AMOUNT]
    return PayNow(link, states, payable, _transfer(payable), _due_installments(link, states))


def _transfer(payable: list[InvoiceState]) -> bank_transfer.TransferDetails | None:
    """One transfer for the link's invoices: the pay page's details, oldest invoice's
    reference (matching books on it first, then on the others)."""
    if not payable:
        return None
    total = sum((s.payable for s in payable), ZERO)
    oldest = min(payable, key=lambda s: (s.effective_due, s.invoice.id))
    info = _("Invoices %(numbers)s", numbers=", ".join(s.invoice.number for s in payable))
    if len(info) > epc.MAX_INFO:
        info = ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", len(payable))
    return bank_transfer._transfer(total, oldest.invoice, info, payable, [])


def _due_installments(link: PayLink, states: list[InvoiceState]) -> list[DueInstallment]:
    """For invoices in an active plan: each such plan's next unpaid instalment."""
    planned = [s.invoice.id for s in states if s.in_plan and s.is_open]
    if not planned:
        return []
    from app.accounts.bank_transfer import installment_qr
    from app.invoices.references import format_ogm

    plans = db.session.scalars(
        select(PaymentPlan).join(plan_invoice, plan_invoice.c.plan_id == PaymentPlan.id)
        .where(PaymentPlan.customer_id == link.customer_id, PaymentPlan.status == "active",
               plan_invoice.c.invoice_id.in_(planned))
        .distinct().order_by(PaymentPlan.id)).all()
    found: list[DueInstallment] = []
    for plan in plans:
        for installment in sorted(plan.installments, key=lambda i: i.sequence):
            left = installment.amount - (installment.paid_amount or ZERO)
            if installment.status != "paid" and left >= epc.MIN_AMOUNT:
                found.append(DueInstallment(installment, left,
                                            format_ogm(installment.structured_reference),
                                            installment_qr(installment)))
                break
    return found


def online_parts(found: PayNow) -> list[tuple[Any, Decimal]]:
    """(invoice, amount) for a checkout: exactly what the page asks for on invoices."""
    return [(s.invoice, s.payable) for s in found.payable]
