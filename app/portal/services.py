"""What the portal shows a customer: every query here is filtered by the logged-in customer's id.

This module is the one place where the portal reads receivables. Each public function takes the
customer id first and puts it in the WHERE clause of every query it runs, so that a route can
never show another customer's data by passing the wrong invoice id: a lookup by id that does not
belong to the customer returns None and the route answers 404.

Queries are set-wise per customer (a handful per page, each on an index that starts with
customer_id), so a page costs the same whatever the size of the whole ledger. The busiest ones
are prepared once with a ``:cid`` bind parameter (CID below); a call that forgot to give it
fails ("a value is required for bind parameter 'cid'") rather than reading anyone's rows.
"""
from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    bindparam,
    func,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy import literal as sa_literal

from app.core.models import ZERO
from app.core.settings import company_details
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer, Mandate
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, CreditNote, Invoice, InvoiceLine
from app.payments import epc
from app.payments.models import Allocation, Payment
from app.payments.models import StatementLine as BankStatementLine
from app.payments.money_out_models import WriteOff
from app.payments.references import format_ogm, format_rf
from app.requests.models import (
    REQUEST_KINDS,
    REQUEST_STATUSES,
    CustomerRequest,
    Deferral,
    Dispute,
    Installment,
    PaymentPlan,
    plan_invoice,
)

PAGE_SIZE = 25
OPEN_REQUEST_STATUSES = ("received", "in_review")
INVOICE_FILTERS = {"open": _l("Open"), "overdue": _l("Overdue"), "paid": _l("Paid"),
                   "all": _l("All")}
# Aging buckets: (key, label, first day overdue, last day overdue or None).
AGING_BUCKETS = (
    ("current", _l("Not yet due"), None, 0),
    ("d1_30", _l("1–30 days"), 1, 30),
    ("d31_60", _l("31–60 days"), 31, 60),
    ("d61_90", _l("61–90 days"), 61, 90),
    ("d90", _l("More than 90 days"), 91, None),
)


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


def _deferred_until(customer_id: int):
    """The active deferral's new due date of the outer Invoice row (NULL: not deferred)."""
    return (select(func.max(Deferral.new_due_date))
            .where(Deferral.invoice_id == Invoice.id, Deferral.customer_id == customer_id,
                   Deferral.status == "active")
            .correlate(Invoice).scalar_subquery())


def _in_plan(customer_id: int):
    """Whether an active payment plan covers the outer Invoice row."""
    return (select(plan_invoice.c.invoice_id)
            .join(PaymentPlan, PaymentPlan.id == plan_invoice.c.plan_id)
            .where(plan_invoice.c.invoice_id == Invoice.id,
                   PaymentPlan.customer_id == customer_id, PaymentPlan.status == "active")
            .correlate(Invoice).exists())


def overdue_clause(customer_id: int, today: date):
    """SQL twin of InvoiceState.is_overdue: open, in no active plan, and past its due date as
    moved by an active deferral. The "Overdue" tab's count, total and rows all use this."""
    return and_(Invoice.status.in_(OPEN_STATUSES), ~_in_plan(customer_id),
                func.coalesce(_deferred_until(customer_id), Invoice.due_date) < today)


def _with_state(customer_id: int, *where: Any):
    """SELECT invoices with, per row, the active deferral's date, whether an active plan
    covers it, and the open disputed amount: one query, correlated subqueries on indexes."""
    disputed = (select(func.sum(Dispute.amount))
                .where(Dispute.invoice_id == Invoice.id, Dispute.customer_id == customer_id,
                       Dispute.status == "open")
                .correlate(Invoice).scalar_subquery())
    return select(Invoice, _deferred_until(customer_id), _in_plan(customer_id), disputed).where(
        Invoice.customer_id == customer_id, *where)


def _state(row: Any, today: date) -> InvoiceState:
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
    return (_with_state(CID, Invoice.status.in_(OPEN_STATUSES))
            .order_by(Invoice.due_date, Invoice.id))


def open_invoice_states(customer_id: int, today: date | None = None) -> list[InvoiceState]:
    today = today or business_today()
    rows = db.session.execute(_open_states_query(), {"cid": customer_id})
    return [_state(row, today) for row in rows]


# --- payments the bank took back -----------------------------------------------------------------

@dataclass
class ReturnedPayment:
    """A payment (mostly a direct debit) the bank returned, and the invoices open again."""

    payment_id: int
    method: str
    amount: Decimal
    paid_on: date
    invoices: list[tuple[int, str]]   # (id, number) of the re-opened invoices still open

    @property
    def text(self) -> str:
        amount, paid_on = _money(self.amount), _day(self.paid_on)
        if self.method == "direct_debit":
            return ngettext(
                "Your direct debit of %(amount)s on %(date)s was returned by your bank; the "
                "invoice is open again.",
                "Your direct debit of %(amount)s on %(date)s was returned by your bank; the "
                "invoices are open again.", len(self.invoices), amount=amount, date=paid_on)
        return ngettext(
            "Your payment of %(amount)s on %(date)s was returned by your bank; the invoice is "
            "open again.",
            "Your payment of %(amount)s on %(date)s was returned by your bank; the invoices are "
            "open again.", len(self.invoices), amount=amount, date=paid_on)


def returned_payment_notices(customer_id: int, invoice_id: int | None = None
                             ) -> list[ReturnedPayment]:
    """The customer's returned payments whose invoices are still open (most recent first);
    with ``invoice_id``, only those that had paid that invoice. Two queries when any exist."""
    from app.payments.services import returned_payments

    payments = returned_payments(customer_id)
    if not payments:
        return []
    reopened: dict[int, list[tuple[int, str]]] = {}
    where = [Allocation.payment_id.in_([p.id for p in payments]),
             Allocation.reversed_at.is_not(None), Invoice.customer_id == customer_id,
             Invoice.status.in_(OPEN_STATUSES)]
    if invoice_id is not None:
        where.append(Invoice.id == invoice_id)
    for payment_id, inv_id, number in db.session.execute(
            select(Allocation.payment_id, Invoice.id, Invoice.number)
            .join(Invoice, Invoice.id == Allocation.invoice_id).where(*where)
            .distinct().order_by(Invoice.number)):
        reopened.setdefault(payment_id, []).append((inv_id, number))
    return [ReturnedPayment(p.id, p.method, p.amount, p.received_on, reopened[p.id])
            for p in payments if p.id in reopened]


# --- dashboard --------------------------------------------------------------------------------

@dataclass
class NextAction:
    kind: str          # pay_overdue / sign_mandate / pay_next / none
    text: str
    endpoint: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    button: str | None = None


@dataclass
class Dashboard:
    balance_due: Decimal  # negative: the customer has a credit with us
    overdue_amount: Decimal
    overdue_count: int
    payable_overdue: Decimal
    disputed_amount: Decimal
    next_due: InvoiceState | None
    open_requests: list[CustomerRequest]
    open_request_count: int
    next_action: NextAction
    # Money received from the customer not yet allocated to an invoice (deducted above).
    unallocated: Decimal = ZERO
    # A friendly proposal for customers flagged by the risk signals (app/customers/risk.py).
    risk_proposals: list[dict] = field(default_factory=list)
    # Payments the bank took back while the invoices they paid are still open.
    returned: list[ReturnedPayment] = field(default_factory=list)
    # The first unpaid instalment of an active payment plan: its invoices' own due dates no
    # longer apply, so "Next due date" is this one when it comes first.
    next_installment: Installment | None = None
    has_active_plan: bool = False

    @property
    def next_is_installment(self) -> bool:
        return self.next_installment is not None and (
            self.next_due is None or self.next_installment.due_date <= self.next_due.effective_due)

    @property
    def installment_left(self) -> Decimal:
        item = self.next_installment
        return (item.amount - (item.paid_amount or ZERO)) if item is not None else ZERO


def dashboard(customer: Customer, today: date | None = None) -> Dashboard:
    today = today or business_today()
    states = open_invoice_states(customer.id, today)
    credit_notes, unallocated, request_count, any_returned = db.session.execute(
        _dashboard_figures_query(), {"cid": customer.id}).one()
    unallocated = Decimal(unallocated or 0)
    # The rule of customers.services.balance_parts, with the open invoices already loaded.
    balance = sum((s.invoice.open_amount for s in states), ZERO) - Decimal(credit_notes or 0) \
        - unallocated
    overdue = [s for s in states if s.is_overdue]
    upcoming = sorted((s for s in states if not s.is_overdue and not s.in_plan and s.payable),
                      key=lambda s: (s.effective_due, s.invoice.id))
    requests = list(db.session.scalars(
        select(CustomerRequest).where(CustomerRequest.customer_id == customer.id,
                                      CustomerRequest.status.in_(OPEN_REQUEST_STATUSES))
        .order_by(CustomerRequest.created_at.desc()).limit(5))) if request_count else []
    board = Dashboard(
        balance_due=balance.quantize(Decimal("0.01")),
        unallocated=unallocated,
        overdue_amount=sum((s.invoice.open_amount for s in overdue), ZERO),
        overdue_count=len(overdue),
        payable_overdue=sum((s.payable for s in overdue), ZERO),
        disputed_amount=sum((s.disputed_amount for s in states), ZERO),
        next_due=upcoming[0] if upcoming else None,
        open_requests=requests,
        open_request_count=request_count,
        next_action=NextAction("none", ""),
    )
    if any(s.in_plan for s in states):
        board.next_installment = db.session.scalar(
            select(Installment).join(PaymentPlan, PaymentPlan.id == Installment.plan_id)
            .where(PaymentPlan.customer_id == customer.id, PaymentPlan.status == "active",
                   Installment.status != "paid")
            .order_by(Installment.due_date, Installment.id).limit(1))
        board.has_active_plan = True
    board.next_action = _next_action(customer, board)
    board.returned = returned_payment_notices(customer.id) if any_returned else []
    if customer.risk_flags:
        from app.customers.risk import portal_proposals

        board.risk_proposals = portal_proposals(customer)
    return board


@functools.cache
def _dashboard_figures_query():
    """Open credit notes, money received and not allocated, the number of open requests and
    whether any payment was returned, in one round trip (returned payments are rare: their
    own queries run only then)."""
    from app.customers.services import balance_parts

    _invoices, credit_notes, unallocated = balance_parts(CID)
    return select(
        credit_notes, unallocated,
        select(func.count(CustomerRequest.id)).where(
            CustomerRequest.customer_id == CID,
            CustomerRequest.status.in_(OPEN_REQUEST_STATUSES)).scalar_subquery(),
        select(Payment.id).where(Payment.customer_id == CID, Payment.status == "returned")
        .exists(),
    )


def _next_action(customer: Customer, board: Dashboard) -> NextAction:
    """The one thing the customer should do now, in order of urgency."""
    if board.payable_overdue > 0:
        return NextAction("pay_overdue", ngettext(
            "%(num)s invoice is overdue. Pay %(amount)s now to avoid reminders and costs.",
            "%(num)s invoices are overdue. Pay %(amount)s now to avoid reminders and costs.",
            board.overdue_count, amount=_money(board.payable_overdue)),
            "portal.pay_overdue", button=_("Pay the overdue invoices"))
    if customer.payment_method == "direct_debit" and not _has_active_mandate(customer.id):
        return NextAction("sign_mandate", _(
            "You chose direct debit, but we have no signed mandate yet. Sign it so that your "
            "invoices are paid on time automatically."),
            "portal.direct_debit", button=_("Sign the mandate"))
    if board.next_is_installment:
        item = board.next_installment
        return NextAction("pay_installment", _(
            "Next instalment of your payment plan: %(amount)s, due on %(date)s.",
            amount=_money(board.installment_left), date=_day(item.due_date)),
            "portal.plan", {"plan_id": item.plan_id}, _("See my payment plan"))
    if board.next_due is not None:
        state = board.next_due
        return NextAction("pay_next", _(
            "Next payment: %(amount)s for invoice %(number)s, due on %(date)s.",
            amount=_money(state.payable), number=state.invoice.number,
            date=_day(state.effective_due)),
            "portal.pay_invoice", {"invoice_id": state.invoice.id}, _("Pay this invoice"))
    return NextAction("none", _("You are all set: there is nothing to pay right now."))


def _has_active_mandate(customer_id: int) -> bool:
    return db.session.scalar(select(Mandate.id).where(
        Mandate.customer_id == customer_id, Mandate.status == "active").limit(1)) is not None


def _money(amount: Decimal) -> str:
    from app.core.i18n import money

    return money(amount)


def _day(value: date) -> str:
    from app.core.i18n import day

    return day(value)


def request_label(req: CustomerRequest) -> tuple[str, str]:
    return (str(REQUEST_KINDS.get(req.kind, req.kind)),
            str(REQUEST_STATUSES.get(req.status, req.status)))


# --- invoice lists ----------------------------------------------------------------------------

@dataclass
class InvoiceFilters:
    status: str = "open"
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1


@dataclass
class InvoicePage:
    rows: list[InvoiceState]
    total: int
    page: int
    pages: int
    filters: InvoiceFilters
    counts: dict[str, int]


def parse_filters(args: Any) -> tuple[InvoiceFilters, dict[str, list[str]]]:
    """Filters from the query string; a wrong value is reported and ignored, never a 500."""
    from app.core import validation as v

    errors = v.Errors()
    status = args.get("status") or "open"
    if status not in INVOICE_FILTERS:
        errors.add("status", _("Must be one of: %(choices)s.", choices=", ".join(INVOICE_FILTERS)))
        status = "open"
    date_from = v.a_date(args, "from", errors)
    date_to = v.a_date(args, "to", errors)
    if date_from and date_to and date_to < date_from:
        errors.add("to", _("The end date cannot be before the start date."))
        date_to = None
    page = v.integer(args, "page", errors, minimum=1, maximum=100000) or 1
    q = (args.get("q") or "").strip()[:100]
    return InvoiceFilters(status, q, date_from, date_to, page), errors.errors


def _filter_clause(status: str, searched: bool, date_from: bool, date_to: bool) -> list[Any]:
    """The tab's condition and the filters given (bind parameters :pattern, :date_from,
    :date_to), after the customer's id (:cid)."""
    clause = [Invoice.customer_id == CID]
    if status == "open":
        clause.append(Invoice.status.in_(OPEN_STATUSES))
    elif status == "overdue":
        clause.append(overdue_clause(CID, TODAY))
    elif status == "paid":
        clause.append(Invoice.status == "paid")
    else:
        clause.append(Invoice.status != "cancelled")
    if searched:
        pattern = bindparam("pattern", type_=String)
        clause.append(or_(Invoice.number.ilike(pattern, escape="\\"),
                          Invoice.description.ilike(pattern, escape="\\")))
    if date_from:
        clause.append(Invoice.issue_date >= bindparam("date_from", type_=Date))
    if date_to:
        clause.append(Invoice.issue_date <= bindparam("date_to", type_=Date))
    return clause


INVOICE_ORDER = {
    "open": (Invoice.due_date, Invoice.id),
    "overdue": (Invoice.due_date, Invoice.id),
    "paid": (Invoice.paid_on.desc(), Invoice.id.desc()),
    "all": (Invoice.issue_date.desc(), Invoice.id.desc()),
}


@functools.cache
def _invoice_list_queries(status: str, searched: bool, date_from: bool, date_to: bool):
    """(rows, count) for one combination of tab and filters, paged by :offset and :limit."""
    clause = _filter_clause(status, searched, date_from, date_to)
    rows = (_with_state(CID, *clause[1:]).order_by(*INVOICE_ORDER[status])
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer)))
    return rows, select(func.count(Invoice.id)).where(and_(*clause))


def invoice_page(customer_id: int, filters: InvoiceFilters, today: date | None = None
                 ) -> InvoicePage:
    today = today or business_today()
    filtered = bool(filters.q or filters.date_from or filters.date_to)
    rows_query, count_query = _invoice_list_queries(
        filters.status, bool(filters.q), bool(filters.date_from), bool(filters.date_to))
    values = {"cid": customer_id, "today": today, "pattern": f"%{_escape_like(filters.q)}%",
              "date_from": filters.date_from, "date_to": filters.date_to}
    counts = tab_counts(customer_id, today)
    if filtered:
        total = db.session.scalar(count_query, values) or 0
    else:
        total = counts[filters.status]  # the tab's own count: no second COUNT query
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(filters.page, pages)
    rows = db.session.execute(rows_query, {**values, "offset": (page - 1) * PAGE_SIZE,
                                           "limit": PAGE_SIZE})
    states = [_state(row, today) for row in rows]
    return InvoicePage(states, total, page, pages, filters, counts)


@functools.cache
def _tab_counts_query():
    is_open = Invoice.status.in_(OPEN_STATUSES)
    return select(
        func.count(Invoice.id).filter(is_open),
        # Deferred and planned invoices are not overdue for the customer, though past their
        # due_date: the same clause as the tab's list (_filter_clause).
        func.count(Invoice.id).filter(overdue_clause(CID, TODAY)),
        func.count(Invoice.id).filter(Invoice.status == "paid"),
        func.count(Invoice.id).filter(Invoice.status != "cancelled"),
    ).where(Invoice.customer_id == CID)


def tab_counts(customer_id: int, today: date) -> dict[str, int]:
    """How many invoices each tab holds, in one query."""
    row = db.session.execute(_tab_counts_query(), {"cid": customer_id, "today": today}).one()
    return dict(zip(("open", "overdue", "paid", "all"), (int(n or 0) for n in row)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- one invoice ------------------------------------------------------------------------------

@dataclass
class PaymentEvent:
    on: date
    amount: Decimal
    text: str


@dataclass
class InvoiceDetail:
    state: InvoiceState
    lines: list[InvoiceLine]
    history: list[PaymentEvent]
    paid_amount: Decimal
    returned: list[ReturnedPayment] = field(default_factory=list)


def get_invoice(customer_id: int, invoice_id: int) -> Invoice | None:
    """The invoice if it belongs to this customer; None otherwise (the route answers 404)."""
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id,
                                                   Invoice.customer_id == customer_id,
                                                   Invoice.status != "cancelled"))


def invoice_state(customer_id: int, invoice_id: int, today: date | None = None
                  ) -> InvoiceState | None:
    row = db.session.execute(_with_state(customer_id, Invoice.id == invoice_id,
                                         Invoice.status != "cancelled")).first()
    return _state(row, today or business_today()) if row is not None else None


def invoice_detail(customer_id: int, invoice_id: int, today: date | None = None
                   ) -> InvoiceDetail | None:
    state = invoice_state(customer_id, invoice_id, today)
    if state is None:
        return None
    from app.payments.models import PAYMENT_METHODS

    history = []
    rows = db.session.execute(
        select(Allocation.amount, Payment.received_on, Payment.method, CreditNote.number,
               CreditNote.issue_date, Allocation.created_at)
        .join(Invoice, Invoice.id == Allocation.invoice_id)
        .outerjoin(Payment, Payment.id == Allocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == Allocation.credit_note_id)
        .where(Allocation.invoice_id == invoice_id, Invoice.customer_id == customer_id,
               Allocation.reversed_at.is_(None))
        .order_by(Allocation.created_at, Allocation.id))
    for amount, received_on, method, note_number, note_date, created_at in rows:
        if note_number:
            history.append(PaymentEvent(note_date or created_at.date(), amount,
                                        _("Credit note %(number)s", number=note_number)))
        else:
            history.append(PaymentEvent(received_on or created_at.date(), amount,
                                        str(PAYMENT_METHODS.get(method, method or ""))))
    paid = sum((e.amount for e in history), ZERO)
    return InvoiceDetail(state, list(state.invoice.lines), history, paid,
                         returned_payment_notices(customer_id, invoice_id))


# --- paying by bank transfer ------------------------------------------------------------------

@dataclass
class TransferDetails:
    """Everything a customer types (or scans) into a banking app for one transfer."""

    amount: Decimal
    beneficiary: str
    iban: str
    bic: str
    reference: str               # shown as printed: +++123/4567/89002+++ or RF18 5390 ...
    reference_kind: str          # ogm / rf
    qr_data_uri: str | None
    qr_error: str | None
    invoices: list[InvoiceState]
    excluded: list[InvoiceState]


def _transfer(amount: Decimal, reference_invoice: Invoice, info: str,
              invoices: list[InvoiceState], excluded: list[InvoiceState]) -> TransferDetails:
    company = company_details()
    qr_uri, qr_error = None, None
    try:
        iban = epc.clean_iban(company["iban"])
        reference = epc.qr_reference_for(reference_invoice, iban)
    except ValidationError:
        # A wrong IBAN in the settings: the page says so instead of failing.
        iban, reference = str(company["iban"] or ""), reference_invoice.structured_reference
        qr_error = _("The payment details are being updated; please try again later.")
    kind = "ogm" if reference == reference_invoice.structured_reference else "rf"
    if qr_error is None and amount >= epc.MIN_AMOUNT:
        try:
            payload = epc.epc_payload(name=company["name"][:epc.MAX_NAME], iban=iban,
                                      bic=company["bic"], amount=amount, reference=reference,
                                      info=info[:epc.MAX_INFO])
            svg = epc.qr_svg(epc.make_qr(payload), scale=5)
            qr_uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
        except ValidationError:
            qr_error = _("The payment QR code is not available; use the details below.")
    return TransferDetails(
        amount=amount, beneficiary=company["name"], iban=epc.format_iban(iban) if iban else "",
        bic=company["bic"] or "",
        reference=format_ogm(reference) if kind == "ogm" else format_rf(reference),
        reference_kind=kind, qr_data_uri=qr_uri, qr_error=qr_error, invoices=invoices,
        excluded=excluded)


def pay_invoice(customer_id: int, invoice_id: int, today: date | None = None
                ) -> tuple[InvoiceState, TransferDetails | None] | None:
    """(state, transfer) for one invoice; transfer is None when nothing is to be paid."""
    state = invoice_state(customer_id, invoice_id, today)
    if state is None:
        return None
    if state.payable < epc.MIN_AMOUNT:
        return state, None
    return state, _transfer(state.payable, state.invoice,
                            _("Invoice %(number)s", number=state.invoice.number), [state], [])


def pay_overdue(customer_id: int, today: date | None = None) -> TransferDetails | None:
    """One transfer for every overdue invoice, less what is disputed (None: nothing overdue).

    The communication is the oldest overdue invoice's reference: our matching books a payment
    on that invoice first and spreads the rest over the customer's other open invoices.
    """
    states = [s for s in open_invoice_states(customer_id, today) if s.is_overdue]
    payable = [s for s in states if s.payable >= epc.MIN_AMOUNT]
    excluded = [s for s in states if s.payable < epc.MIN_AMOUNT]
    if not payable:
        return None
    total = sum((s.payable for s in payable), ZERO)
    oldest = min(payable, key=lambda s: (s.effective_due, s.invoice.id))
    info = _("Invoices %(numbers)s", numbers=", ".join(s.invoice.number for s in payable))
    if len(info) > epc.MAX_INFO:
        info = ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", len(payable))
    return _transfer(total, oldest.invoice, info, payable, excluded)


# --- account statement ------------------------------------------------------------------------

@dataclass
class StatementLine:
    on: date
    kind: str            # invoice / credit_note / payment / write_off / returned
    reference: str
    text: str
    debit: Decimal
    credit: Decimal
    balance: Decimal = ZERO


@dataclass
class Statement:
    customer: Customer
    date_from: date
    date_to: date
    opening_balance: Decimal
    lines: list[StatementLine]
    closing_balance: Decimal
    aging: list[tuple[str, str, Decimal]]
    aging_total: Decimal


KIND_ORDER = {"invoice": 0, "credit_note": 1, "payment": 2, "write_off": 3, "returned": 4}


def default_period(today: date | None = None) -> tuple[date, date]:
    today = today or business_today()
    return today.replace(day=1) - timedelta(days=365), today


def statement(customer: Customer, date_from: date | None = None, date_to: date | None = None,
              today: date | None = None) -> Statement:
    """Invoices, credit notes and payments in date order with a running balance.

    Everything before ``date_from`` is summed into the opening balance, so the running balance
    is right whatever period is shown. Two round trips: the period's lines, then the opening
    balance and the aging summary together.
    """
    today = today or business_today()
    default_from, default_to = default_period(today)
    date_from, date_to = date_from or default_from, date_to or default_to
    cid = customer.id
    entries = _statement_entries(cid, date_from, date_to)
    sums = db.session.execute(_statement_sums_query(),
                              {"cid": cid, "before": date_from, **_aging_limits(today)}).one()
    opening = _opening_balance(sums[:len(OPENING_PARTS)])
    aging, aging_total = _aging_buckets(sums[len(OPENING_PARTS):])
    balance = opening
    for entry in entries:
        balance += entry.debit - entry.credit
        entry.balance = balance
    return Statement(customer, date_from, date_to, opening, entries, balance, aging, aging_total)


def _statement_entries(cid: int, date_from: date, date_to: date) -> list[StatementLine]:
    """The period's lines in date order, each with its text in the customer's language."""
    from app.payments.models import PAYMENT_METHODS

    rows = db.session.execute(_statement_entries_query(),
                              {"cid": cid, "date_from": date_from, "date_to": date_to})
    lines: list[StatementLine] = []
    for on, kind, reference, description, other_day, method, amount in rows:
        on = _as_date(on)
        if kind == "invoice":
            text = description or _("Invoice, due on %(date)s", date=_day(_as_date(other_day)))
            lines.append(StatementLine(on, kind, reference, text, amount, ZERO))
        elif kind == "write_off":
            lines.append(StatementLine(on, kind, reference, _("Written off"), ZERO, amount))
        elif kind == "credit_note":
            lines.append(StatementLine(on, kind, reference, _("Credit note"), ZERO, amount))
        elif kind == "payment":
            text = _("Payment (%(method)s)", method=PAYMENT_METHODS.get(method, method))
            lines.append(StatementLine(on, kind, reference, text, ZERO, amount))
        else:
            received = _day(_as_date(other_day))
            text = (_("Direct debit of %(date)s returned by your bank", date=received)
                    if method == "direct_debit" else
                    _("Payment of %(date)s returned by your bank", date=received))
            lines.append(StatementLine(on, kind, reference, text, amount, ZERO))
    lines.sort(key=lambda line: (line.on, KIND_ORDER[line.kind], line.reference))
    return lines


@functools.cache
def _statement_entries_query():
    """One UNION ALL of (day, kind, reference, description, other day, payment method, amount)
    for the period's invoices, write-offs, credit notes, payments and returned payments."""
    date_from, date_to = bindparam("date_from", type_=Date), bindparam("date_to", type_=Date)

    def branch(on, kind, reference, amount, *where, description=None, other_day=None,
               method=None):
        return select(on.label("on"), sa_literal(kind).label("kind"),
                      reference.label("reference"), _or_null(description, String),
                      _or_null(other_day, Date), _or_null(method, String),
                      amount.label("amount")).where(*where)

    written_off_on, approved_on = func.date(Invoice.updated_at), func.date(WriteOff.approved_at)
    returned_on = _returned_on()
    return union_all(
        branch(Invoice.issue_date, "invoice", Invoice.number, Invoice.total_amount,
               Invoice.customer_id == CID, Invoice.status != "cancelled",
               Invoice.issue_date.between(date_from, date_to),
               description=Invoice.description, other_day=Invoice.due_date),
        branch(approved_on, "write_off", Invoice.number, WriteOff.amount,
               *_approved_write_offs(CID), approved_on.between(date_from, date_to))
        .select_from(WriteOff).join(Invoice, Invoice.id == WriteOff.invoice_id),
        branch(written_off_on, "write_off", Invoice.number, Invoice.open_amount,
               *_status_write_offs(CID), written_off_on.between(date_from, date_to)),
        branch(CreditNote.issue_date, "credit_note", CreditNote.number, CreditNote.amount,
               CreditNote.customer_id == CID, CreditNote.issue_date.between(date_from, date_to)),
        # Every payment received, returned ones too: the bank's return is a line of its own
        # (a debit on the day the bank took the money back), so the running balance shows both.
        branch(Payment.received_on, "payment", func.coalesce(Payment.communication, ""),
               Payment.amount, Payment.customer_id == CID,
               Payment.received_on.between(date_from, date_to), method=Payment.method),
        branch(returned_on, "returned", func.coalesce(Payment.communication, ""),
               Payment.amount, Payment.customer_id == CID, Payment.status == "returned",
               returned_on.between(date_from, date_to), other_day=Payment.received_on,
               method=Payment.method)
        .outerjoin(BankStatementLine, BankStatementLine.id == Payment.return_line_id),
    )


@functools.cache
def _statement_sums_query():
    """The opening balance's parts (before :before) and the aging buckets, in one row."""
    return select(*_opening_columns(CID, bindparam("before", type_=Date)), *_aging_columns(CID))


def _or_null(column, type_):
    """A UNION branch's column, or a typed NULL where that kind of line has none."""
    return column if column is not None else null().cast(type_)


def _as_date(value: date | str) -> date:
    """SQLite gives func.date() and the UNION's columns back as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _returned_on():
    """The day the bank took a returned payment back: the booking date of the bank statement
    line that returned it, else the day it was recorded, else (an old row with neither) the day
    it was received. Needs BankStatementLine outer-joined."""
    return func.coalesce(BankStatementLine.booking_date, func.date(Payment.returned_at),
                         Payment.received_on, type_=Date)


def _approved_write_offs(cid: Any) -> list[Any]:
    """Write-offs approved under the approval limits (app/invoices/adjustments.py): the
    invoice is left with nothing open, the amount given up is on the WriteOff row. Needs
    Invoice joined; an invoice taken back into the receivables since then no longer counts."""
    return [WriteOff.customer_id == cid, WriteOff.status == "approved",
            Invoice.status == "written_off"]


def _status_write_offs(cid: Any) -> list[Any]:
    """Invoices staff marked "written off" in the invoice screen: the open amount is kept on
    the invoice, and that amount is what was given up."""
    return [Invoice.customer_id == cid, Invoice.status == "written_off", Invoice.open_amount != 0]


# Invoiced - written off (both ways) - credited - paid + returned before the period: the
# opening balance.
OPENING_PARTS = (1, -1, -1, -1, -1, 1)


def _opening_columns(cid: Any, before: Any) -> list[Any]:
    """Scalar subqueries, in the order and with the signs of OPENING_PARTS."""
    def total(column, *where):
        return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery()

    returned_on = _returned_on()
    return [
        total(Invoice.total_amount, Invoice.customer_id == cid, Invoice.status != "cancelled",
              Invoice.issue_date < before),
        select(func.coalesce(func.sum(WriteOff.amount), 0))
        .join(Invoice, Invoice.id == WriteOff.invoice_id)
        .where(*_approved_write_offs(cid), func.date(WriteOff.approved_at) < before)
        .scalar_subquery(),
        total(Invoice.open_amount, *_status_write_offs(cid),
              func.date(Invoice.updated_at) < before),
        total(CreditNote.amount, CreditNote.customer_id == cid, CreditNote.issue_date < before),
        total(Payment.amount, Payment.customer_id == cid, Payment.received_on < before),
        select(func.coalesce(func.sum(Payment.amount), 0))
        .outerjoin(BankStatementLine, BankStatementLine.id == Payment.return_line_id)
        .where(Payment.customer_id == cid, Payment.status == "returned",
               returned_on < before).scalar_subquery(),
    ]


def _opening_balance(sums: Any) -> Decimal:
    total = sum((sign * Decimal(value or 0) for sign, value in zip(OPENING_PARTS, sums)), ZERO)
    return total.quantize(Decimal("0.01"))


def _aging_limits(today: date) -> dict[str, date]:
    """The due dates that bound the aging buckets today, as bind parameters: "d days overdue"
    is compared as a due date (due <= today - d), so the SQL is the same on PostgreSQL and
    SQLite and does not change from day to day."""
    limits = {}
    for key, _label, first, last in AGING_BUCKETS:
        if first is not None:
            limits[f"aging_{key}_first"] = today - timedelta(days=first)
        if last is not None:
            limits[f"aging_{key}_last"] = today - timedelta(days=last)
    return limits


def _aging_columns(cid: Any) -> list[Any]:
    """One scalar subquery per aging bucket: the open amount of the invoices due in its days
    (bind parameters from _aging_limits)."""
    # The due date the dashboard's "Overdue" uses (overdue_clause): moved by an active
    # deferral; an invoice in an active plan is paid by instalments, so it is "not yet due".
    due = func.coalesce(_deferred_until(cid), Invoice.due_date)
    planned = _in_plan(cid)
    columns = []
    for key, _label, first, last in AGING_BUCKETS:
        where = [Invoice.customer_id == cid, Invoice.status.in_(OPEN_STATUSES)]
        bounds = []
        if first is not None:
            bounds.append(due <= bindparam(f"aging_{key}_first", type_=Date))
        if last is not None:
            bounds.append(due >= bindparam(f"aging_{key}_last", type_=Date))
        if first is None:  # "not yet due" holds the plan's invoices too
            where.append(or_(planned, and_(*bounds)))
        else:
            where.extend([~planned, *bounds])
        columns.append(select(func.coalesce(func.sum(Invoice.open_amount), 0))
                       .where(*where).scalar_subquery())
    return columns


def _aging_buckets(sums: Any) -> tuple[list[tuple[str, str, Decimal]], Decimal]:
    buckets = [(key, str(label), Decimal(value or 0).quantize(Decimal("0.01")))
               for (key, label, *_), value in zip(AGING_BUCKETS, sums)]
    return buckets, sum((amount for *_, amount in buckets), ZERO)
