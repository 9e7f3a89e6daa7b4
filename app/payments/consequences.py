"""What follows when money is allocated to invoices, or taken back: the rules in one place.

A ``Consequences`` collects what a booking (or an undo, or a bank return) touched, and
``apply()`` does the rest in the same transaction, set-wise (a few statements for a whole
statement chunk, not a few per payment):

- the open amount and status of each invoice already followed in ``allocate`` (set_open_amount):
  a paid invoice leaves the dunning run, so its reminders stop;
- a promise to pay (Deferral) on an invoice now paid is kept; re-opened, it is active again;
- plan instalments paid by the payment are marked paid (a late one too: the plan is no longer
  behind, which is what resets the broken-plan clock); a plan whose instalments are all paid is
  completed; a return takes the instalment payment back;
- the customers' balances are recomputed;
- the customer gets a thank-you message for each payment, and an "account settled" message when
  nothing is left open; both through the notifications domain's functions (outbox rows in this
  transaction). A failure to render one never loses the booking: it is logged.
The customer's timeline reads these records (payments, allocations, messages, audit events).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.core.models import ZERO, utcnow
from app.core.sets import chunks, where_in
from app.core.time import business_today
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice
from app.payments.models import Allocation, InstallmentPayment, Payment
from app.payments.signals import money_booked
from app.requests.models import Deferral, Installment, PaymentPlan

log = logging.getLogger(__name__)
class Consequences:
    """``messages``: "inline" (queued in this transaction), "deferred" (the caller hands the
    payments to app.payments.jobs after its commit: a big statement import) or "off"."""

    def __init__(self, notify: bool = True, messages: str | None = None,
                 balances: str = "refresh", pending: dict[int, Decimal] | None = None):
        self.messages = messages or ("inline" if notify else "off")
        # "refresh": recompute the touched customers' balances (exact, a query per batch of
        # customers); "delta": subtract the payments booked from the stored balance (one
        # statement: the statement import's fast path, which only books payments); "pending":
        # as "delta", but the changes are only added up in ``pending`` and the caller writes
        # them with apply_balance_deltas before its commit (a big statement import: one
        # UPDATE per customer per file instead of one per chunk; no message reads them).
        if balances == "pending" and (pending is None or self.messages == "inline"):
            raise ValueError("pending balances need a dict, and no inline messages")
        self.balances, self.pending = balances, pending
        self.balance_deltas: dict[int, Decimal] = {}
        self.paid_invoices: dict[int, object] = {}
        self.reopened_invoices: dict[int, object] = {}
        self.customer_ids: set[int] = set()
        self.booked_payments: list = []
        self.plan_ids: set[int] = set()
        # Customers money went to in this batch: they may now be settled.
        self.paying_customer_ids: set[int] = set()
        # Money received, by customer: the invoices it went to (payments.signals.money_booked).
        self.money_to: dict[int, set[int]] = {}

    # -- recording --
    def invoice_changed(self, invoice: Invoice) -> None:
        """The invoice's open amount changed. Not a balance change by itself: the balance nets
        money received against invoices, so allocating moves nothing; "refresh" recomputes what
        else changed (write-offs, undone allocations)."""
        if invoice.id is not None:
            if invoice.status == "paid":
                self.paid_invoices[invoice.id] = invoice
                self.reopened_invoices.pop(invoice.id, None)
            elif invoice.status in OPEN_STATUSES:
                self.reopened_invoices[invoice.id] = invoice
                self.paid_invoices.pop(invoice.id, None)
        self.customer_ids.add(invoice.customer_id)

    def money_allocated(self, payment, invoice) -> None:
        """Money received went to ``invoice`` (an allocation, not an undo or a credit note)."""
        if invoice.customer_id is not None:
            self.money_to.setdefault(invoice.customer_id, set())
            if invoice.id is not None:
                self.money_to[invoice.customer_id].add(invoice.id)

    def payment_booked(self, payment: Payment) -> None:
        self.booked_payments.append(payment)
        if payment.customer_id:
            self.money_to.setdefault(payment.customer_id, set())
            self.customer_ids.add(payment.customer_id)
            self.paying_customer_ids.add(payment.customer_id)
            # Money received lowers what the customer owes by all of it, allocated or not.
            self.balance_deltas[payment.customer_id] = \
                self.balance_deltas.get(payment.customer_id, ZERO) - payment.amount

    # -- instalments --
    def pay_installments(self, payment: Payment, installments: list[Installment],
                         amount: Decimal) -> list[InstallmentPayment]:
        """Pay the instalments in order with ``amount``; what is left goes to the next ones."""
        made = []
        remaining = amount
        ordered = sorted({i.id: i for i in installments}.values(),
                         key=lambda i: (i.plan_id, i.sequence))
        plans = {i.plan_id for i in ordered}
        # A payment bigger than the instalment pays the plan's next instalments too.
        followers = [i for plan_id in plans for i in _plan_installments(ordered, plan_id)]
        for installment in dict.fromkeys(ordered + followers):
            if remaining <= 0:
                break
            owed = installment.amount - (installment.paid_amount or ZERO)
            if owed <= 0:
                continue
            part = min(owed, remaining)
            installment.paid_amount = (installment.paid_amount or ZERO) + part
            if installment.paid_amount >= installment.amount:
                installment.status = "paid"
            remaining -= part
            record = InstallmentPayment(payment=payment, installment=installment, amount=part)
            db.session.add(record)
            made.append(record)
            self.plan_ids.add(installment.plan_id)
        return made

    def unpay_installments(self, payment: Payment) -> None:
        records = db.session.scalars(
            select(InstallmentPayment).options(selectinload(InstallmentPayment.installment))
            .where(InstallmentPayment.payment_id == payment.id,
                   InstallmentPayment.reversed_at.is_(None))).all()
        today = business_today()
        for record in records:
            installment = record.installment
            installment.paid_amount = max((installment.paid_amount or ZERO) - record.amount, ZERO)
            if installment.paid_amount < installment.amount:
                installment.status = "late" if installment.due_date < today else "due"
            record.reversed_at = utcnow()
            self.plan_ids.add(installment.plan_id)

    # -- applying --
    def apply(self) -> dict[int, Decimal]:
        """Apply everything collected; returns the new balance of each customer touched."""
        db.session.flush()
        self._deferrals()
        self._plans()
        if self.balances == "delta":
            balances = apply_balance_deltas(self.balance_deltas)
        elif self.balances == "pending":
            for customer_id, delta in self.balance_deltas.items():
                self.pending[customer_id] = self.pending.get(customer_id, ZERO) + delta
            balances = {}
        else:
            balances = refresh_balances(self.customer_ids)
        if self.messages == "inline":
            queue_payment_messages([p.id for p in self.booked_payments if p.customer_id],
                                   balances, self.paying_customer_ids)
        if self.money_to:
            money_booked.send("payments", customers=self.money_to)
        self.__init__(messages=self.messages, balances=self.balances, pending=self.pending)
        return balances

    def _deferrals(self) -> None:
        for paid in where_in(Deferral.invoice_id, self.paid_invoices):
            db.session.execute(update(Deferral).where(paid, Deferral.status == "active").values(
                status="kept").execution_options(synchronize_session="fetch"))
        for reopened in where_in(Deferral.invoice_id, self.reopened_invoices):
            db.session.execute(update(Deferral).where(reopened, Deferral.status == "kept")
                               .values(status="active")
                               .execution_options(synchronize_session="fetch"))

    def _plans(self) -> None:
        for ids in where_in(PaymentPlan.id, self.plan_ids):
            plans = db.session.scalars(select(PaymentPlan).options(
                selectinload(PaymentPlan.installments)).where(ids)).all()
            for plan in plans:
                all_paid = all(i.status == "paid" for i in plan.installments)
                if all_paid and plan.status == "active":
                    plan.status = "completed"
                elif not all_paid and plan.status == "completed":
                    plan.status = "active"


def _plan_installments(installments: list[Installment], plan_id: int) -> list[Installment]:
    plan = next(i.plan for i in installments if i.plan_id == plan_id)
    return sorted(plan.installments, key=lambda i: i.sequence)


def queue_payment_messages(payment_ids: list[int], balances: dict[int, Decimal],
                           paying_customer_ids: Iterable[int]) -> None:
    """Thank-you messages for these payments, and "account settled" for the customers whose
    balance is now nil (notifications domain; idempotent, so a repeat queues nothing)."""
    received = _notifier("notify_payment_received")
    settled = _notifier("notify_account_settled")
    now = utcnow()
    for ids in chunks(sorted(payment_ids)):
        payments = db.session.scalars(
            select(Payment).where(Payment.id.in_(ids)).order_by(Payment.id).options(
                selectinload(Payment.customer),
                selectinload(Payment.allocations).selectinload(Allocation.invoice))).all()
        for payment in payments:
            if payment.customer_id and payment.status != "returned":
                if received is not None:
                    _safely(received, payment)
                payment.notified_at = now
    if settled is None:
        return
    for customer_id in sorted(set(paying_customer_ids)):
        # Nothing left to pay: settled, also when they paid a little too much.
        if customer_id in balances and balances[customer_id] <= ZERO:
            customer = db.session.get(Customer, customer_id)
            if customer is not None:
                _safely(settled, customer)


def apply_balance_deltas(deltas: dict[int, Decimal]) -> dict[int, Decimal]:
    """Add each change to the customer's stored balance; returns the new balances.

    The same rule as refresh_balances (customers.services.balance_parts), counted
    incrementally: a payment booked lowers the balance by its amount, whatever part of it is
    allocated (the nightly refresh-balances job recomputes every balance from scratch anyway).
    """
    # In customer order: neighbouring rows share heap and index pages.
    changes = {customer_id: deltas[customer_id] for customer_id in sorted(deltas)
               if deltas[customer_id]}
    if not changes:
        return {}
    table = Customer.__table__
    if db.engine.dialect.name == "postgresql":
        rows = db.session.execute(text(
            "UPDATE customer SET balance = customer.balance + v.delta, updated_at = :now "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:deltas AS numeric[])) AS v(id, delta) "
            "WHERE customer.id = v.id RETURNING customer.id, customer.balance"),
            {"now": utcnow(), "ids": list(changes), "deltas": list(changes.values())}).all()
    else:
        db.session.execute(
            update(table).where(table.c.id == bindparam("b_id"))
            .values(balance=table.c.balance + bindparam("b_delta"), updated_at=utcnow()),
            [{"b_id": customer_id, "b_delta": delta} for customer_id, delta in changes.items()])
        rows = [row for condition in where_in(table.c.id, changes) for row in
                db.session.execute(select(table.c.id, table.c.balance).where(condition))]
    result = {customer_id: Decimal(balance).quantize(Decimal("0.01"))
              for customer_id, balance in rows}
    for customer_id, balance in result.items():
        loaded = db.session.identity_map.get((Customer, (customer_id,), None))
        if loaded is not None:
            set_committed_value(loaded, "balance", balance)
    return result


def refresh_balances(customer_ids: Iterable[int]) -> dict[int, Decimal]:
    """customers.services.compute_balance for many customers at once (one UPDATE per chunk),
    with the same rule (balance_parts, correlated on the customer row)."""
    from app.customers.services import net_balance

    result: dict[int, Decimal] = {}
    for ids in chunks(sorted(i for i in customer_ids if i)):
        rows = db.session.execute(
            update(Customer).where(Customer.id.in_(ids))
            .values(balance=net_balance(Customer.id))
            .returning(Customer.id, Customer.balance)
            .execution_options(synchronize_session=False)).all()
        for customer_id, balance in rows:
            result[customer_id] = Decimal(balance).quantize(Decimal("0.01"))
    # Customers loaded in this session see their new balance without another query.
    for customer_id, balance in result.items():
        loaded = db.session.identity_map.get((Customer, (customer_id,), None))
        if loaded is not None:
            set_committed_value(loaded, "balance", balance)
    return result


_missing_logged: set[str] = set()


def _notifier(name: str):
    """A notifications.services function, or None (logged once) while it does not exist."""
    try:
        from app.notifications import services
    except ImportError:
        services = None
    function = getattr(services, name, None)
    if function is None and name not in _missing_logged:
        _missing_logged.add(name)
        log.warning("app.notifications.services.%s is missing: no message queued", name)
    return function


def _safely(function, *args) -> None:
    """Queue a message; a missing or broken template is logged, the booking stands.

    Rendering happens before the message row is added, so such a failure leaves nothing half
    written; a database error is not caught (the transaction is then lost anyway).
    """
    try:
        function(*args)
    except SQLAlchemyError:
        raise
    except LookupError as exc:  # TemplateMissing: staff have not written that template (yet)
        if str(exc) not in _missing_logged:
            _missing_logged.add(str(exc))
            log.warning("no message queued by %s: %s", getattr(function, "__name__", function),
                        exc)
    except Exception:
        log.exception("%s failed for %r", getattr(function, "__name__", function), args)
