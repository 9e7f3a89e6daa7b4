"""Matching by picking: for money received that no rule could place (a statement line waiting
in the queue, or a payment received online or through the API without a usable reference),
propose ranked candidates and book what a person ticked.

Candidates (``candidates``): customers found by the counterparty's IBAN (keyed lookup hash:
IBANs are encrypted at rest), then by a reference in the communication (OGM, RF or an invoice
number), then by a similar name. For each customer: the open invoices whose open amounts, alone
or two to five together, equal the amount (subset sum, bounded: the ``MAX_INVOICES`` oldest open
invoices and at most ``MAX_STEPS`` steps, so a customer with 500 open invoices answers at once;
every combination of up to four of them is examined, five as far as the steps go);
otherwise the oldest invoices paid (the last one partly); what is more than the open invoices
stays on the customer's account as credit.

Booking (``confirm_pick``): the line or payment is locked (app.core.locking) so that two people
confirming the same line at once book it once; the invoices ticked must still have the open
amount the person saw (a stale form is refused, nothing booked); then app.payments.services
(manual_match) allocates. The caller commits.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from app.core import validation as v
from app.core.crypto import iban_hash
from app.core.i18n import money
from app.core.locking import lock_rows
from app.core.models import ZERO
from app.customers.models import Customer
from app.customers.services import customer_ids_by_iban_hash
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice, invoice_is_open
from app.invoices.references import find_references, is_valid_ogm, normalise_ogm
from app.payments.incoming.matching import tokens_in
from app.payments.incoming.models import StatementLine
from app.payments.models import Payment
from app.payments.services import manual_match

PICKED = "picked"  # the rule stored on allocations booked by picking
MAX_INVOICES = 30  # the oldest open invoices of a customer that combinations are looked for in
MAX_COMBINATION = 5  # invoices in one combination
MAX_STEPS = 100_000  # search steps per customer: about 35 ms at most (measured), whatever the invoices
MAX_COMBINATIONS = 5  # combinations shown per customer
MAX_CUSTOMERS = 8
WAITING = ("unmatched", "suggested")

# Why a customer is proposed, best first.
BY_IBAN, BY_CUSTOMER, BY_REFERENCE, BY_NAME = "iban", "customer", "reference", "name"
REASONS = {
    BY_CUSTOMER: _l("Customer of the payment"),
    BY_IBAN: _l("Known account (IBAN)"),
    BY_REFERENCE: _l("Reference in the communication"),
    BY_NAME: _l("Similar name"),
}
_RANK = {BY_CUSTOMER: 0, BY_IBAN: 0, BY_REFERENCE: 1, BY_NAME: 2}


@dataclass
class Candidate:
    customer: Customer
    reasons: list[str]
    open_invoices: list[Invoice]  # oldest first, at most MAX_INVOICES
    more_open: int = 0  # open invoices not considered (beyond MAX_INVOICES)
    combinations: list[list[Invoice]] = field(default_factory=list)  # each sums to the amount
    partial: list[tuple[Invoice, Decimal]] = field(default_factory=list)  # oldest first
    credit: Decimal = ZERO  # left on the account after every open invoice is paid
    exhausted: bool = False  # the search stopped at MAX_STEPS

    @property
    def rank(self) -> int:
        return min(_RANK[r] for r in self.reasons)

    @property
    def ticked(self) -> set[int]:
        """The invoices ticked when the page opens: the first combination, else the partial
        payment."""
        if self.combinations:
            return {i.id for i in self.combinations[0]}
        return {i.id for i, _amount in self.partial}


def combinations_equal_to(invoices: Sequence[Invoice], amount: Decimal,
                          max_size: int = MAX_COMBINATION, max_steps: int = MAX_STEPS,
                          limit: int = MAX_COMBINATIONS) -> tuple[list[list[Invoice]], bool]:
    """Sets of 1 to ``max_size`` invoices whose open amounts add up to ``amount`` exactly:
    fewest invoices first, then oldest. Returns (combinations, stopped at max_steps)."""
    target = int(amount * 100)
    items = sorted(((int(i.open_amount * 100), n, i) for n, i in enumerate(invoices)
                    if 0 < i.open_amount <= amount), key=lambda t: (t[0], t[1]))
    cents = [c for c, _n, _i in items]
    found: list[tuple[int, tuple[int, ...]]] = []
    steps = 0
    stopped = False

    def search(start: int, left: int, chosen: list[int], size: int) -> None:
        nonlocal steps, stopped
        for k in range(start, len(items)):
            if stopped:
                return
            steps += 1
            if steps > max_steps:
                stopped = True
                return
            value = cents[k]
            if value > left:
                return  # sorted: every later one is larger too
            if len(chosen) + 1 == size:
                if value == left:
                    found.append((size, tuple(sorted(items[j][1] for j in chosen + [k]))))
                    if len(found) >= limit * 4:
                        stopped = True
                        return
                continue
            # Not enough room for the rest if even the next smallest overshoots.
            search(k + 1, left - value, chosen + [k], size)

    for size in range(1, max_size + 1):
        if stopped or len(found) >= limit:
            break
        search(0, target, [], size)
    found = sorted(set(found))[:limit]
    return [[invoices[n] for n in positions] for _size, positions in found], stopped


def oldest_first(invoices: Sequence[Invoice], amount: Decimal) -> list[tuple[Invoice, Decimal]]:
    """The amount over the invoices, oldest first; the last one paid partly."""
    parts = []
    left = amount
    for invoice in invoices:
        if left <= 0:
            break
        part = min(left, invoice.open_amount)
        if part > 0:
            parts.append((invoice, part))
            left -= part
    return parts


def candidates(amount: Decimal, *, iban_digest: str | None = None,
               texts: Iterable[str | None] = (), name: str | None = None,
               customer_id: int | None = None, limit: int = MAX_CUSTOMERS) -> list[Candidate]:
    """Ranked customers for money of ``amount``: the payment's own customer and customers
    of the IBAN first, then a reference in ``texts``, then a similar ``name``."""
    reasons: dict[int, list[str]] = {}

    def add(ids: Iterable[int], reason: str) -> None:
        for i in sorted(ids):
            if i is not None and reason not in reasons.setdefault(i, []):
                reasons[i].append(reason)

    if customer_id is not None:
        add([customer_id], BY_CUSTOMER)
    if iban_digest:
        add(customer_ids_by_iban_hash([iban_digest]).get(iban_digest, set()), BY_IBAN)
        add(db.session.scalars(select(Payment.customer_id).distinct().where(
            Payment.iban_hash == iban_digest, Payment.customer_id.is_not(None),
            Payment.status != "returned")), BY_IBAN)
    add(_customers_by_reference(list(texts)), BY_REFERENCE)
    add(_customers_by_name(name, limit), BY_NAME)
    if not reasons:
        return []
    customers = {c.id: c for c in db.session.scalars(
        select(Customer).where(Customer.id.in_(list(reasons))))}
    result = []
    for cid, why in reasons.items():
        if cid not in customers:
            continue
        result.append(_candidate(customers[cid], why, amount))
    # Within a rank, a customer with an exact combination first.
    result.sort(key=lambda c: (c.rank, not c.combinations, c.customer.number))
    return result[:limit]


def _candidate(customer: Customer, why: list[str], amount: Decimal) -> Candidate:
    query = select(Invoice).where(Invoice.customer_id == customer.id,
                                  invoice_is_open(), Invoice.open_amount > 0)
    invoices = list(db.session.scalars(query.order_by(Invoice.due_date, Invoice.id)
                                       .limit(MAX_INVOICES)))
    more = 0
    if len(invoices) == MAX_INVOICES:
        more = db.session.scalar(select(func.count()).select_from(query.subquery())) \
            - MAX_INVOICES
    combinations, stopped = combinations_equal_to(invoices, amount)
    total = sum((i.open_amount for i in invoices), ZERO)
    candidate = Candidate(customer, sorted(why, key=lambda r: _RANK[r]), invoices, more,
                          combinations, exhausted=stopped)
    if not combinations:
        candidate.partial = oldest_first(invoices, amount)
        if not more and amount > total:
            candidate.credit = amount - total
    return candidate


def _customers_by_reference(texts: list[str | None]) -> set[int]:
    ogms, rfs = set(), set()
    for text in texts:
        for kind, value in find_references(text):
            (ogms if kind == "ogm" else rfs).add(value)
    tokens = tokens_in(*texts)
    conditions = []
    if ogms:
        conditions.append(Invoice.structured_reference.in_(sorted(ogms)))
    if rfs:
        conditions.append(Invoice.rf_reference.in_(sorted(rfs)))
    if tokens:
        conditions.append(Invoice.number.in_(tokens))
    if not conditions:
        return set()
    return set(db.session.scalars(select(Invoice.customer_id).where(or_(*conditions))
                                  .distinct().limit(MAX_CUSTOMERS)))


def _customers_by_name(name: str | None, limit: int) -> list[int]:
    words = [w for w in re.split(r"\W+", (name or "").strip()) if len(w) >= 3][:3]
    if not words:
        return []
    likes = [func.lower(Customer.name).contains(w.lower(), autoescape=True) for w in words]
    found = list(db.session.scalars(select(Customer.id).where(and_(*likes)).limit(limit)))
    return found or list(db.session.scalars(select(Customer.id).where(or_(*likes))
                                            .limit(limit)))


def candidates_for_line(line: StatementLine) -> list[Candidate]:
    digest = getattr(line, "iban_hash", None) or (
        iban_hash(line.counterparty_iban) if line.counterparty_iban else None)
    return candidates(line.amount, iban_digest=digest,
                      texts=(line.structured_reference, line.free_text, line.end_to_end_id),
                      name=line.counterparty_name)


def candidates_for_payment(payment: Payment) -> list[Candidate]:
    return candidates(payment.unallocated_amount, iban_digest=payment.iban_hash,
                      texts=(payment.communication,), name=payment.counterparty_name,
                      customer_id=payment.customer_id)


# --- booking -------------------------------------------------------------------------------

@dataclass
class Pick:
    """One invoice ticked: the open amount the person saw, and the amount typed (None: what is
    open, as far as the money goes)."""
    invoice_id: int
    seen_open: Decimal
    amount: Decimal | None = None


def payment_of_line(line: StatementLine, create: bool = True) -> Payment | None:
    """The payment booked for a statement line of money received (made when first needed)."""
    payment = db.session.scalar(select(Payment).where(Payment.statement_line_id == line.id))
    if payment is None and create:
        if line.kind != "payment" or line.amount <= 0:
            raise v.ValidationError({"line": _("Only money received can be matched.")})
        payment = Payment(amount=line.amount, unallocated_amount=line.amount,
                          currency=(line.currency or "EUR").upper(),
                          received_on=line.booking_date, status="unmatched",
                          communication=(line.structured_reference or line.free_text or "")[:200]
                          or None, counterparty_name=line.counterparty_name,
                          counterparty_iban=line.counterparty_iban, statement_line_id=line.id)
        db.session.add(payment)
        db.session.flush()
    return payment


def confirm_pick(*, customer_id: int, picks: Sequence[Pick], user,
                 line: StatementLine | None = None, payment: Payment | None = None,
                 note: str | None = None) -> Payment:
    """Book a statement line (``line``) or an unallocated payment (``payment``) to the invoices
    ticked, in the order given; what is not allocated stays as the customer's credit (no
    invoice at all: everything is credit for that customer).

    Refused (ValidationError, nothing booked) when the line was matched meanwhile, the payment
    has no money left, an invoice is not the customer's or is no longer open with the amount
    the person saw. Caller commits (or rolls back on refusal)."""
    if (line is None) == (payment is None):
        raise TypeError("confirm_pick: a line or a payment")
    if line is not None:
        lock_rows(StatementLine, [line.id])  # two people confirming the same line: one wins
        db.session.refresh(line)
        if line.kind != "payment" or line.status not in WAITING:
            raise v.ValidationError({"line": _(
                "This line was matched or set aside meanwhile; nothing was booked.")})
        payment = payment_of_line(line)
    lock_rows(Payment, [payment.id])
    db.session.refresh(payment)
    if payment.status == "returned" or payment.unallocated_amount <= 0:
        raise v.ValidationError({"payment": _(
            "This payment has no money left to allocate; nothing was booked.")})
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise v.ValidationError({"customer": _("Choose a customer.")})
    if payment.customer_id not in (None, customer.id) and payment.statement_line_id is None:
        raise v.ValidationError({"customer": _(
            "This payment belongs to another customer.")})
    if len({p.invoice_id for p in picks}) != len(picks):
        raise v.ValidationError({"invoices": _("An invoice was ticked twice.")})
    invoices = {i.id: i for i in lock_rows(Invoice, [p.invoice_id for p in picks])}
    errors = v.Errors()
    parts: list[tuple[Invoice, Decimal]] = []
    left = payment.unallocated_amount
    for pick in picks:
        invoice = invoices.get(pick.invoice_id)
        if invoice is None or invoice.customer_id != customer.id:
            errors.add("invoices", _("An invoice ticked is not one of this customer's."))
            continue
        if invoice.status not in OPEN_STATUSES or invoice.open_amount != pick.seen_open:
            errors.add("invoices", _(
                "Invoice %(invoice)s changed meanwhile (now %(open)s open): nothing was "
                "booked; look at the proposal again.", invoice=invoice.number,
                open=money(invoice.open_amount if invoice.status in OPEN_STATUSES else ZERO,
                           invoice.currency)))
            continue
        amount = pick.amount if pick.amount is not None else min(left, invoice.open_amount)
        if amount <= 0 and pick.amount is None:
            errors.add("invoices", _(
                "The money is used up before invoice %(invoice)s: untick it or type smaller "
                "amounts.", invoice=invoice.number))
            continue
        parts.append((invoice, amount))
        left -= amount
    errors.raise_if_any()
    manual_match(payment, customer, parts, user, rule=PICKED, fill_oldest=False,
                 note=note or _("Picked by hand."))
    return payment


def picks_from_form(form) -> tuple[int | None, list[Pick]]:
    """(customer id, picks) from the picking form: ``customer``, the ticked ``invoice`` ids,
    ``seen_<id>`` (the open amount shown) and ``amount_<id>`` (typed, "12,50" accepted; empty:
    what is open, as far as the money goes); no invoice only with ``credit_only`` (all the money
    as the customer's credit). ValidationError on anything malformed."""
    errors = v.Errors()
    try:
        customer_id = int(form.get("customer", ""))
    except ValueError:
        customer_id = None
        errors.add("customer", _("Choose a customer."))
    picks = []
    for raw in form.getlist("invoice"):
        try:
            invoice_id = int(raw)
            seen = v.parse_amount(form.get(f"seen_{invoice_id}", ""))
        except (ValueError, v.ValidationError):
            errors.add("invoices", _("The form is incomplete; open the page again."))
            continue
        typed = (form.get(f"amount_{invoice_id}") or "").strip()
        amount = None
        if typed:
            try:
                amount = v.parse_amount(typed)
            except (ValueError, v.ValidationError):
                errors.add("invoices", _("%(value)s is not an amount.", value=typed[:40]))
                continue
            if amount <= 0:
                errors.add("invoices", _("Amounts must be more than zero."))
                continue
        picks.append(Pick(invoice_id, seen, amount))
    if not picks and "invoices" not in errors and not form.get("credit_only"):
        errors.add("invoices", _("Tick at least one invoice."))
    errors.raise_if_any()
    return customer_id, picks


# --- the other ways staff place a line: a suggestion accepted, invoice numbers typed ----------

def accept_suggestion(line: StatementLine, proposal, user) -> Payment:
    """Book a line as one of the rules' suggestions (app.payments.incoming.matching.Proposal) proposes:
    its plan instalments, its invoices, then the customer's other open invoices oldest first.
    The line is locked: accepted once however many people click. Caller commits."""
    lock_rows(StatementLine, [line.id])
    if line.kind != "payment" or line.status not in WAITING:
        raise v.ValidationError({"line": _("Only a payment waiting in the queue can be "
                                           "matched from a suggestion.")})
    if proposal.customer_id is None:
        raise v.ValidationError({"line": _("This suggestion names no customer.")})
    payment = payment_of_line(line)
    customer = db.session.get(Customer, proposal.customer_id)
    parts: list[tuple[Invoice, Decimal]] = []
    left = payment.unallocated_amount
    invoices = list(proposal.invoices)
    for installment in proposal.installments:
        invoices.extend(installment.plan.invoices)
    for invoice in invoices:
        if left <= 0:
            break
        if invoice.status in OPEN_STATUSES and invoice.open_amount > 0 and \
                invoice.customer_id == customer.id and invoice not in [p[0] for p in parts]:
            part = min(left, invoice.open_amount)
            parts.append((invoice, part))
            left -= part
    manual_match(payment, customer, parts, user, rule=proposal.rule,
                 confidence=proposal.confidence, fill_oldest=True,
                 note=_("Suggestion accepted."))
    _pay_installments(payment, proposal.installments)
    return payment


def _pay_installments(payment: Payment, installments) -> None:
    if not installments:
        return
    from app.payments.consequences import Consequences

    consequences = Consequences(messages="off")
    allocated = sum((a.amount for a in payment.allocations if a.reversed_at is None), ZERO)
    consequences.pay_installments(payment, installments, allocated)
    consequences.apply()


def parse_invoice_lines(text: str, payment: Payment) -> list[tuple[Invoice, Decimal]]:
    """Typed allocation, one invoice a line: "INV-1 120,50" (or just "INV-1": what is open, as
    far as the payment goes). The number may also be the invoice's structured communication."""
    parts: list[tuple[Invoice, Decimal]] = []
    left = payment.unallocated_amount
    errors = v.Errors()
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        invoice = db.session.scalar(select(Invoice).where(Invoice.number == words[0]))
        if invoice is None and is_valid_ogm(words[0]):
            invoice = db.session.scalar(select(Invoice).where(
                Invoice.structured_reference == normalise_ogm(words[0])))
        if invoice is None:
            errors.add("invoices", _("Line %(line)s: unknown invoice %(number)s.", line=number,
                                     number=words[0][:40]))
            continue
        if len(words) > 1:
            try:
                amount = v.parse_amount(" ".join(words[1:]))
            except (v.ValidationError, ValueError):
                errors.add("invoices", _("Line %(line)s: %(value)s is not an amount.",
                                         line=number, value=" ".join(words[1:])[:40]))
                continue
        else:
            amount = min(invoice.open_amount, left)
        parts.append((invoice, amount))
        left -= amount
    errors.raise_if_any()
    return parts


def match_typed(line: StatementLine, customer_number: str, text: str, user, *,
                note: str | None = None) -> Payment:
    """Matching by hand with typed invoice numbers and amounts (``parse_invoice_lines``); with
    none, the customer's open invoices oldest first. The line is locked. Caller commits."""
    lock_rows(StatementLine, [line.id])
    payment = payment_of_line(line)
    number = (customer_number or "").strip()
    customer = db.session.scalar(select(Customer).where(Customer.number == number))
    if customer is None:
        raise v.ValidationError({"customer_number": _("Unknown customer number: %(number)s.",
                                                      number=number[:40])})
    parts = parse_invoice_lines(text, payment)
    manual_match(payment, customer, parts, user, fill_oldest=not parts, note=note)
    return payment
