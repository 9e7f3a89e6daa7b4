"""The state of a customer's invoices as the portal shows it: every query filtered by customer.

This module and its siblings (overview.py, invoice_list.py, invoice_detail.py, bank_transfer.py,
account_statement.py, returned_payments.py) are the one place where the portal reads
receivables. Each public function takes the customer id first and puts it in the WHERE clause of
every query it runs, so that a route can never show another customer's data by passing the wrong
invoice id: a lookup by id that does not belong to the customer returns None and the route
answers 404.

Queries are set-wise per customer (a handful per page, each on an index that starts with
customer_id), so a page costs the same whatever the size of the whole ledger. The busiest ones
are prepared once with a ``:cid`` bind parameter (CID below); a call that forgot to give it
fails ("a value is required for bind parameter 'cid'") rather than reading anyone's rows.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Date, Integer, and_, bindparam, func, select

from app.core.models import ZERO
from app.core.time import business_today
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice, invoice_is_open
from app.requests.models import Deferral, Dispute, PaymentPlan, plan_invoice

# --- what hangs on an open invoice ------------------------------------------------------------

@dataclass
class InvoiceState:
    """An invoice with what the customer needs to know about it besides its own columns."""

    invoice: Invoice
    today: date
    deferred_until: date | None = None
    in_plan: bool = False
    disputed_amount: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.invoice.status in OPEN_STATUSES

    @property
    def effective_due(self) -> date:
        """A deferral moves the date by which the customer must pay."""
        return self.deferred_until or self.invoice.due_date

    @property
    def is_overdue(self) -> bool:
        """Open and past its (deferred) due date; a plan's installments replace the due date."""
        return self.is_open and not self.in_plan and self.effective_due < self.today

    @property
    def days_overdue(self) -> int:
        return max((self.today - self.effective_due).days, 0) if self.is_overdue else 0

    @property
    def payable(self) -> Decimal:
        """What we ask the customer to pay now: the open amount less what is disputed.

        Nothing for an invoice in a payment plan: the plan's installments are paid instead.
        """
        if not self.is_open or self.in_plan:
            return ZERO
        return max(self.invoice.open_amount - self.disputed_amount, ZERO)

    @property
    def is_disputed(self) -> bool:
        return self.disputed_amount > 0 or bool(self.invoice.disputed)

    @property
    def reminder_level(self) -> int:
        return self.invoice.dunning_level or 0

    @property
    def status_key(self) -> str:
        if self.invoice.status == "paid":
            return "paid"
        if not self.is_open:
            return self.invoice.status
        return "overdue" if self.is_overdue else "open"

    def badges(self) -> list[tuple[str, str]]:
        """(css class, text) for every status a customer should see, most important first."""
        shown: list[tuple[str, str]] = []
        labels = {
            "paid": _("Paid"), "overdue": _("Overdue"), "open": _("Open"),
            "written_off": _("Written off"), "cancelled": _("Cancelled"),
        }
        shown.append((self.status_key, labels.get(self.status_key, self.invoice.status)))
        if self.is_open and self.invoice.status == "partially_paid":
            shown.append(("info", _("Partly paid")))
        if self.is_disputed and self.is_open:
            shown.append(("warn", _("Disputed")))
        if self.in_plan and self.is_open:
            shown.append(("info", _("In a payment plan")))
        if self.deferred_until and self.is_open:
            shown.append(("info", _("Deferred")))
        if self.reminder_level and self.is_open:
            shown.append(("warn", _("Reminded (level %(n)s)", n=self.reminder_level)))
        return shown


def active_deferral_date(customer_id: int):
    """The active deferral's new due date of the outer Invoice row (NULL: not deferred)."""
    return (select(func.max(Deferral.new_due_date))
            .where(Deferral.invoice_id == Invoice.id, Deferral.customer_id == customer_id,
                   Deferral.status == "active")
            .correlate(Invoice).scalar_subquery())


def in_active_plan(customer_id: int):
    """Whether an active payment plan covers the outer Invoice row."""
    return (select(plan_invoice.c.invoice_id)
            .join(PaymentPlan, PaymentPlan.id == plan_invoice.c.plan_id)
            .where(plan_invoice.c.invoice_id == Invoice.id,
                   PaymentPlan.customer_id == customer_id, PaymentPlan.status == "active")
            .correlate(Invoice).exists())


def overdue_clause(customer_id: int, today: date):
    """SQL twin of InvoiceState.is_overdue: open, in no active plan, and past its due date as
    moved by an active deferral. The "Overdue" tab's count, total and rows all use this."""
    return and_(invoice_is_open(), ~in_active_plan(customer_id),
                func.coalesce(active_deferral_date(customer_id), Invoice.due_date) < today)


def select_with_state(customer_id: int, *where: Any):
    """SELECT invoices with, per row, the active deferral's date, whether an active plan
    covers it, and the open disputed amount: one query, correlated subqueries on indexes."""
    disputed = (select(func.sum(Dispute.amount))
                .where(Dispute.invoice_id == Invoice.id, Dispute.customer_id == customer_id,
                       Dispute.status == "open")
                .correlate(Invoice).scalar_subquery())
    return select(Invoice, active_deferral_date(customer_id), in_active_plan(customer_id),
                  disputed).where(Invoice.customer_id == customer_id, *where)


def state_from_row(row: Any, today: date) -> InvoiceState:
    invoice, deferred, planned, disputed = row
    if invoice.status not in OPEN_STATUSES:
        return InvoiceState(invoice, today)
    amount = max(Decimal(disputed or 0), invoice.disputed_amount or ZERO)
    if invoice.disputed and not amount:
        amount = invoice.open_amount  # flagged as disputed without an amount: all of it
    return InvoiceState(invoice, today, deferred, bool(planned), min(amount, invoice.open_amount))


# The pages' most frequent queries are built once per process with bind parameters (:cid,
# :today, ...) and executed with the values: building and hashing a statement with correlated
# subqueries cost more CPU than PostgreSQL spent running it (bench/portal.py).
CID = bindparam("cid", type_=Integer)
TODAY = bindparam("today", type_=Date)


@functools.cache
def _open_states_query():
    return (select_with_state(CID, invoice_is_open())
            .order_by(Invoice.due_date, Invoice.id))


def open_invoice_states(customer_id: int, today: date | None = None) -> list[InvoiceState]:
    today = today or business_today()
    rows = db.session.execute(_open_states_query(), {"cid": customer_id})
    return [state_from_row(row, today) for row in rows]


def invoice_state(customer_id: int, invoice_id: int, today: date | None = None
                  ) -> InvoiceState | None:
    row = db.session.execute(select_with_state(customer_id, Invoice.id == invoice_id,
                                               Invoice.status != "cancelled")).first()
    return state_from_row(row, today or business_today()) if row is not None else None
