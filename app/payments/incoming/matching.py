"""Matching statement lines to what they pay, rule by rule, with a confidence for each proposal.

Rules, in order (the first that finds something decides; later ones only add suggestions):
0. a direct-debit collection of ours: the end-to-end id or payment information id written in
   the pain.008 file (app.payments.incoming.collection_matching) -> the invoices collected;
1. structured reference (OGM or RF) in the structured field, or typed into the free text
   (+++, ***, spaces, slashes) -> invoice, or plan instalment;
2. invoice number in the free text (or in a reference that is not an OGM/RF);
3. direct debit: end-to-end id naming an invoice, or a known mandate -> its customer;
4. counterparty IBAN known for a customer, with the amount -> that customer's invoice(s);
   IBANs are encrypted at rest, so they are compared by keyed hash (``iban_hash`` of bank
   accounts, earlier payments and the line itself).
Returns and reversals (money going back out) are matched to the payment they undo: by
end-to-end id, then by mandate reference and amount.

Everything is looked up set-wise for a whole batch of lines: a handful of ``IN (...)`` queries
per batch, never one query per line (the 100,000-entry benchmark depends on it).

A proposal's confidence decides what happens (settings): at least
``payments.auto_match_confidence`` -> booked automatically; at least
``payments.suggest_min_confidence`` -> suggested to a person; lower -> unmatched.

Why one module of about 510 lines: the matching rules are read in order, as one list; the
collection rule and the rule names live apart (collection_matching.py, app/payments/rules.py).
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from app.core.crypto import iban_hash
from app.core.models import ZERO
from app.core.sets import where_in
from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice, invoice_is_open
from app.invoices.references import (
    InvalidReference,
    betalingskenmerk_numbers,
    find_references,
    normalise_ogm,
    normalise_rf,
)
from app.payments.incoming.bulk import InvoiceRow, invoice_columns
from app.payments.incoming.collection_matching import collections_in
from app.payments.incoming.models import StatementLine
from app.payments.models import Payment
from app.payments.rules import (
    AMOUNT,
    BETALINGSKENMERK,
    END_TO_END,
    IBAN,
    IBAN_AMOUNT,
    INVOICE_NUMBER,
    MANDATE,
    NAME,
    RETURN_END_TO_END,
    RETURN_MANDATE,
    STRUCTURED,
    TEXT_REFERENCE,
)
from app.requests.models import Installment, PaymentPlan

# Why a proposal is less sure than its rule, shown with the suggestion.
NOTES = {
    "not_open": _l("The invoice referenced is already paid or closed: refund the payment or "
                   "keep it for the next invoice."),
    "several_customers": _l("The references point to invoices of different customers."),
    "currency": _l("The payment is not in the invoice's currency."),
    "amount_differs": _l("The amount differs from what is open on the invoice(s)."),
    "several_customers_iban": _l("This account is known for several customers."),
    "return_not_found": _l("The payment this return takes back was not found."),
    "return_customer_known": _l("The mandate is known, but not the payment it returns."),
    "plan_not_active": _l("The payment plan of this instalment is not active."),
    "foreign_currency": _l("The money is not in euros: a person decides what it pays (an "
                           "invoice is settled only by money in its own currency)."),
    "not_our_account": _l("This line is of an account that is not one of the company's "
                          "accounts (settings): check it before booking."),
    "incoming_return": _l("Money coming back: a payment of ours that the bank returned or "
                          "reversed, not a customer's payment."),
}
C = Decimal
CONFIDENCE = {
    STRUCTURED: C("0.99"), TEXT_REFERENCE: C("0.95"), INVOICE_NUMBER: C("0.95"),
    BETALINGSKENMERK: C("0.95"),
    END_TO_END: C("0.95"), MANDATE: C("0.90"), IBAN_AMOUNT: C("0.80"), IBAN: C("0.50"),
    AMOUNT: C("0.30"), NAME: C("0.30"), RETURN_END_TO_END: C("0.95"), RETURN_MANDATE: C("0.90"),
}
DOUBTFUL = C("0.60")  # a reference that finds something, but something is off

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.\-]*[A-Za-z0-9]")
MAX_TOKENS = 40


@dataclass
class Proposal:
    rule: str
    confidence: Decimal
    customer_id: int | None = None
    invoices: list[Invoice] = field(default_factory=list)
    installments: list[Installment] = field(default_factory=list)
    payment: Payment | None = None  # returns: the payment taken back
    notes: list[str] = field(default_factory=list)
    fill_oldest: bool = True  # surplus to the customer's other open invoices

    def as_suggestion(self) -> dict:
        return {"rule": self.rule, "confidence": str(self.confidence),
                "customer_id": self.customer_id,
                "invoice_ids": [i.id for i in self.invoices],
                "installment_ids": [i.id for i in self.installments],
                "payment_id": self.payment.id if self.payment is not None else None,
                "notes": list(self.notes)}


@dataclass
class _Facts:
    line: StatementLine
    references: list[tuple[str, str, bool]]  # (kind "ogm"/"rf", value, structured)
    tokens: list[str]
    kenmerk: list[str] = field(default_factory=list)  # a Dutch betalingskenmerk's numbers


def tokens_in(*texts: str | None) -> list[str]:
    """Words that may be invoice numbers: 4 to 40 characters with at least one digit.

    Slashes separate numbers as often as they belong to one ("/INV/2022-12-13540/2022-12-13540",
    "2024/0012"): a word with slashes gives itself, each part and each pair of adjacent parts.
    """
    tokens: list[str] = []
    for text in texts:
        for word in _TOKEN.findall(text or ""):
            parts = [part for part in word.split("/") if part]
            pieces = [word, *parts, *("/".join(pair) for pair in pairwise(parts))] \
                if len(parts) > 1 else [word]
            for token in pieces:
                if not (4 <= len(token) <= 40 and any(c.isdigit() for c in token)):
                    continue
                for variant in (token, token.upper()):
                    if variant not in tokens:
                        tokens.append(variant)
        if len(tokens) >= MAX_TOKENS:
            break
    return tokens[:MAX_TOKENS]


class Matcher:
    """Proposals for a batch of statement lines (call ``propose`` once per batch)."""

    def __init__(self, *, lock: bool = False, rows: bool = False):
        # On PostgreSQL the import locks the invoices it reads, so a person allocating to the
        # same invoice meanwhile cannot lose an update (they wait for each other).
        # rows=True: invoices as app.payments.incoming.bulk.InvoiceRow (the statement import's fast
        # path), one object per invoice whatever rule found it; otherwise ORM objects. Rows are
        # not locked: their write checks that nothing changed meanwhile (bulk.update_invoices).
        self.rows = rows
        self.lock = lock and not rows and db.engine.dialect.name == "postgresql"
        self.loaded: dict[int, object] = {}
        self.open_invoices: dict[int, list[Invoice]] = {}

    def propose(self, lines: Sequence[StatementLine]) -> dict[int, list[Proposal]]:
        """Ranked proposals (best first) for each line, by position in ``lines``."""
        result: dict[int, list[Proposal]] = {index: [] for index in range(len(lines))}
        payments = [(i, line) for i, line in enumerate(lines) if line.kind == "payment"]
        returns = [(i, line) for i, line in enumerate(lines) if line.kind == "return"]
        if payments:
            self._payments(payments, result)
        if returns:
            self._returns(returns, result)
        for proposals in result.values():
            proposals.sort(key=lambda p: p.confidence, reverse=True)
        return result

    # -- money in ------------------------------------------------------------------------------
    def _payments(self, lines: list[tuple[int, StatementLine]],
                  result: dict[int, list[Proposal]]) -> None:
        facts = {i: _facts(line) for i, line in lines}
        # Rule 0: our own direct-debit collections (end-to-end id or PmtInfId we wrote).
        ours = collections_in({i: (f.line, set(f.tokens) | set(tokens_in(f.line.bank_reference)))
                               for i, f in facts.items()}, self._load)
        for i, found in ours.items():
            result[i].append(Proposal(found.rule, found.confidence, customer_id=found.customer_id,
                                      invoices=found.invoices, notes=list(found.notes),
                                      fill_oldest=False))
            del facts[i]
        ogms = {v for f in facts.values() for kind, v, _s in f.references if kind == "ogm"}
        rfs = {v for f in facts.values() for kind, v, _s in f.references if kind == "rf"}
        by_ogm = self._invoices(Invoice.structured_reference, ogms)
        by_rf = self._invoices(Invoice.rf_reference, rfs)
        installments = self._installments(ogms - set(by_ogm))
        unresolved = []
        for i, f in facts.items():
            proposal = self._by_reference(f, by_ogm, by_rf, installments)
            if proposal is not None:
                result[i].append(proposal)
            else:
                unresolved.append(i)
        # Rule 2 and 3a: invoice numbers (and end-to-end ids naming an invoice).
        tokens = {t for i in unresolved for t in (*facts[i].tokens, *facts[i].kenmerk)}
        by_number = self._invoices(Invoice.number, tokens)
        still = []
        for i in unresolved:
            proposal = self._by_number(facts[i], by_number)
            if proposal is not None:
                result[i].append(proposal)
            else:
                still.append(i)
        # Rule 3b and 4: a known mandate or a known account -> the customer.
        mandates = self._mandates({facts[i].line.mandate_reference for i in still} - {None})
        digests = {i: _iban_digest(facts[i].line) for i in still}
        ibans = self._ibans(set(digests.values()) - {None})
        self.load_open_invoices(set(mandates.values()) |
                                {c for ids in ibans.values() for c in ids})
        for i in still:
            line = facts[i].line
            if line.mandate_reference in mandates:
                result[i].append(self._by_customer(line, mandates[line.mandate_reference],
                                                   MANDATE))
            known = ibans.get(digests[i], ())
            for customer_id in known:
                proposal = self._by_customer(line, customer_id, IBAN_AMOUNT)
                if len(known) > 1:
                    proposal.confidence = min(proposal.confidence, C("0.40"))
                    proposal.notes.append("several_customers_iban")
                result[i].append(proposal)

    def _by_reference(self, f: _Facts, by_ogm, by_rf, installments) -> Proposal | None:
        invoices: list[Invoice] = []
        plan_items: list[Installment] = []
        structured_hit = False
        for kind, value, structured in f.references:
            found = (by_ogm.get(value) if kind == "ogm" else by_rf.get(value))
            if found is not None:
                invoices.append(found)
            elif kind == "ogm" and value in installments:
                plan_items.append(installments[value])
            else:
                continue
            structured_hit = structured_hit or structured
        if not invoices and not plan_items:
            return None
        rule = STRUCTURED if structured_hit else TEXT_REFERENCE
        proposal = Proposal(rule, CONFIDENCE[rule])
        customers = [i.customer_id for i in invoices] + [p.plan.customer_id for p in plan_items]
        proposal.customer_id = customers[0]
        if plan_items:
            proposal.installments = plan_items
            plan_invoices = [i for p in plan_items for i in p.plan.invoices]
            proposal.invoices = _unique(
                sorted(plan_invoices, key=lambda i: (i.due_date, i.id)) + invoices)
            proposal.fill_oldest = False  # a plan payment pays the plan, then is credit
            if any(p.plan.status != "active" for p in plan_items):
                _doubt(proposal, "plan_not_active")
        else:
            proposal.invoices = _unique(invoices)
        if len(set(customers)) > 1:
            _doubt(proposal, "several_customers")
        if invoices and not plan_items and not any(i.status in OPEN_STATUSES
                                                   for i in invoices):
            _doubt(proposal, "not_open")
        self._check_currency(f.line, proposal)
        return proposal

    def _by_number(self, f: _Facts, by_number: dict[str, Invoice]) -> Proposal | None:
        line = f.line
        # The end-to-end id of a direct debit we collected names the invoice it was for.
        e2e = by_number.get(line.end_to_end_id or "")
        if e2e is not None:
            proposal = Proposal(END_TO_END, CONFIDENCE[END_TO_END], e2e.customer_id, [e2e])
            if e2e.status not in OPEN_STATUSES:
                _doubt(proposal, "not_open")
            self._check_currency(line, proposal)
            return proposal
        rule = BETALINGSKENMERK
        invoices = _unique(by_number[t] for t in f.kenmerk if t in by_number)
        if not invoices:
            rule = INVOICE_NUMBER
            invoices = _unique(by_number[t] for t in f.tokens if t in by_number)
        if not invoices:
            return None
        # Several numbers in one communication (one transfer for four invoices): sure only
        # when their open amounts add up to the money exactly (checked below).
        proposal = Proposal(rule, CONFIDENCE[rule], invoices[0].customer_id, invoices)
        open_total = sum((i.open_amount for i in invoices if i.status in OPEN_STATUSES), ZERO)
        if len({i.customer_id for i in invoices}) > 1:
            _doubt(proposal, "several_customers")
        if not any(i.status in OPEN_STATUSES for i in invoices):
            _doubt(proposal, "not_open")
        elif line.amount != open_total:
            # A number in free text could be another number: without the amount, ask a person.
            proposal.confidence = min(proposal.confidence, C("0.80"))
            proposal.notes.append("amount_differs")
        self._check_currency(line, proposal)
        return proposal

    def _by_customer(self, line: StatementLine, customer_id: int, rule: str) -> Proposal:
        invoices = self.open_invoices.get(customer_id, [])
        same = [i for i in invoices if i.open_amount == line.amount]
        total = sum((i.open_amount for i in invoices), ZERO)
        if rule == MANDATE:
            proposal = Proposal(MANDATE, CONFIDENCE[MANDATE] if same else C("0.80"),
                                customer_id, same[:1])
        elif same:
            proposal = Proposal(IBAN_AMOUNT, CONFIDENCE[IBAN_AMOUNT], customer_id, same[:1])
        elif invoices and total == line.amount:
            proposal = Proposal(IBAN_AMOUNT, C("0.75"), customer_id, list(invoices))
        else:
            proposal = Proposal(IBAN, CONFIDENCE[IBAN], customer_id, [])
        self._check_currency(line, proposal)
        return proposal

    @staticmethod
    def _check_currency(line: StatementLine, proposal: Proposal) -> None:
        """Money in one currency never settles an invoice in another (services.allocate
        refuses it): such a proposal is only a hint for a person."""
        currencies = {(i.currency or "EUR").upper() for i in proposal.invoices} or {"EUR"}
        if currencies != {(line.currency or "EUR").upper()}:
            proposal.confidence = min(proposal.confidence, C("0.50"))
            proposal.notes.append("currency")

    # -- money going back out: returns and reversals ------------------------------------------
    def _returns(self, lines: list[tuple[int, StatementLine]],
                 result: dict[int, list[Proposal]]) -> None:
        e2e = {line.end_to_end_id for _i, line in lines} - {None}
        mandates = {line.mandate_reference for _i, line in lines} - {None}
        originals: dict[str, list[Payment]] = defaultdict(list)
        by_mandate: dict[str, list[Payment]] = defaultdict(list)
        for column, keys, target in ((StatementLine.end_to_end_id, e2e, originals),
                                     (StatementLine.mandate_reference, mandates, by_mandate)):
            for condition in where_in(column, keys):
                rows = db.session.execute(
                    select(column, Payment).join(Payment.statement_line)
                    .where(condition, StatementLine.kind == "payment",
                           Payment.status != "returned")
                    .options(selectinload(Payment.allocations))
                    .order_by(Payment.received_on.desc(), Payment.id.desc())).all()
                for key, payment in rows:
                    target[key].append(payment)
        known_mandates = self._mandates(mandates)
        taken: set[int] = set()
        for i, line in lines:
            amount = -line.amount
            proposal = None
            for payment in originals.get(line.end_to_end_id or "", []):
                if payment.amount == amount and payment.id not in taken:
                    proposal = Proposal(RETURN_END_TO_END, CONFIDENCE[RETURN_END_TO_END],
                                        payment.customer_id, payment=payment)
                    break
            if proposal is None:
                for payment in by_mandate.get(line.mandate_reference or "", []):
                    if payment.amount == amount and payment.id not in taken:
                        proposal = Proposal(RETURN_MANDATE, CONFIDENCE[RETURN_MANDATE],
                                            payment.customer_id, payment=payment)
                        break
            if proposal is not None:
                taken.add(proposal.payment.id)
                result[i].append(proposal)
            elif line.mandate_reference in known_mandates:
                result[i].append(Proposal(RETURN_MANDATE, C("0.30"),
                                          known_mandates[line.mandate_reference],
                                          notes=["return_customer_known"]))

    # -- set-wise lookups -----------------------------------------------------------------------
    def _invoices(self, column, keys: Iterable[str]) -> dict[str, Invoice]:
        found: dict[str, Invoice] = {}
        for condition in where_in(column, sorted(keys)):
            for invoice in self._load(condition):
                found[getattr(invoice, column.key)] = invoice
        return found

    def _load(self, where, order_by=()) -> list:
        if self.rows:
            query = select(*invoice_columns()).where(where).order_by(*order_by)
            result = []
            for row in db.session.execute(query):
                invoice = self.loaded.get(row[0])
                if invoice is None:
                    invoice = self.loaded[row[0]] = InvoiceRow.from_row(row)
                result.append(invoice)
            return result
        query = select(Invoice).where(where).order_by(*order_by)
        if self.lock:
            query = query.with_for_update()
        return list(db.session.scalars(query))

    def _installments(self, ogms: Iterable[str]) -> dict[str, Installment]:
        found: dict[str, Installment] = {}
        for condition in where_in(Installment.structured_reference, sorted(ogms)):
            query = select(Installment).where(condition).options(
                selectinload(Installment.plan).selectinload(PaymentPlan.invoices),
                selectinload(Installment.plan).selectinload(PaymentPlan.installments))
            for installment in db.session.scalars(query):
                found[installment.structured_reference] = installment
        return found

    def _mandates(self, references: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for condition in where_in(Mandate.reference, sorted(references)):
            for reference, customer_id in db.session.execute(
                    select(Mandate.reference, Mandate.customer_id).where(condition)):
                found[reference] = customer_id
        return found

    def _ibans(self, digests: Iterable[str]) -> dict[str, list[int]]:
        """Customers known to pay from each IBAN, by its keyed hash (IBANs are encrypted):
        the customers' bank accounts (not retired) and their earlier payments."""
        found: dict[str, set[int]] = defaultdict(set)
        digests = sorted(digests)
        for column, query in (
                (BankAccount.iban_hash,
                 select(BankAccount.iban_hash, BankAccount.customer_id)
                 .where(BankAccount.status != "retired")),
                (Payment.iban_hash,
                 select(Payment.iban_hash, Payment.customer_id).distinct()
                 .where(Payment.customer_id.is_not(None), Payment.status != "returned"))):
            for condition in where_in(column, digests):
                for digest, customer_id in db.session.execute(query.where(condition)):
                    found[digest].add(customer_id)
        return {digest: sorted(ids) for digest, ids in found.items()}

    def load_open_invoices(self, customer_ids: Iterable[int]) -> None:
        """Each customer's open invoices, oldest first (for surplus and customer-level rules)."""
        wanted = sorted(set(customer_ids) - set(self.open_invoices))
        for customer_id in wanted:
            self.open_invoices.setdefault(customer_id, [])
        for condition in where_in(Invoice.customer_id, wanted):
            for invoice in self._load(and_(condition, invoice_is_open()),
                                      order_by=(Invoice.due_date, Invoice.id)):
                self.open_invoices[invoice.customer_id].append(invoice)

    def open_invoices_of(self, customer_id: int) -> list[Invoice]:
        if customer_id not in self.open_invoices:
            self.load_open_invoices([customer_id])
        return self.open_invoices[customer_id]


def _facts(line: StatementLine) -> _Facts:
    references: list[tuple[str, str, bool]] = []
    structured = line.structured_reference
    if structured:
        for kind, normalise in (("ogm", normalise_ogm), ("rf", normalise_rf)):
            try:
                references.append((kind, normalise(structured), True))
                break
            except InvalidReference:
                continue
    for kind, value in find_references(line.free_text):
        if (kind, value) not in [(k, v) for k, v, _s in references]:
            references.append((kind, value, False))
    # A structured reference that is neither an OGM nor an RF reference: a Dutch
    # betalingskenmerk (SCOR/CUR) names the invoice number it carries.
    kenmerk = betalingskenmerk_numbers(structured) if structured and not references else []
    return _Facts(line, references, tokens_in(line.end_to_end_id, structured, line.free_text),
                  kenmerk)


def _iban_digest(line) -> str | None:
    """The keyed hash of the line's counterparty IBAN: stored with the line (an import row or
    a StatementLine), computed only for a line that has none yet."""
    digest = getattr(line, "iban_hash", None)
    if digest is None and line.counterparty_iban:
        digest = iban_hash(line.counterparty_iban)
    return digest


def _unique(invoices: Iterable[Invoice]) -> list[Invoice]:
    return list({invoice.id: invoice for invoice in invoices}.values())


def _doubt(proposal: Proposal, note: str) -> None:
    proposal.confidence = min(proposal.confidence, DOUBTFUL)
    proposal.notes.append(note)


# --- on demand, for one line in the queue --------------------------------------------------------

def suggestions_for(line: StatementLine, limit: int = 8) -> list[Proposal]:
    """Ranked suggestions for a person matching one line by hand: the rules' proposals, then
    open invoices of exactly this amount, then customers with a similar name."""
    matcher = Matcher()
    proposals = matcher.propose([line])[0] if line.kind in ("payment", "return") else []
    seen = {tuple(i.id for i in p.invoices) for p in proposals if p.invoices}
    if line.kind == "payment" and line.amount > 0:
        same_amount = db.session.scalars(
            select(Invoice).where(Invoice.open_amount == line.amount,
                                  invoice_is_open())
            .order_by(Invoice.due_date).limit(limit)).all()
        for invoice in same_amount:
            if (invoice.id,) not in seen:
                proposals.append(Proposal(AMOUNT, CONFIDENCE[AMOUNT], invoice.customer_id,
                                          [invoice]))
        name = (line.counterparty_name or "").strip()
        words = [w for w in re.split(r"\W+", name) if len(w) >= 3][:3]
        if words:
            known = {p.customer_id for p in proposals}
            customers = db.session.scalars(
                select(Customer).where(and_(*[func.lower(Customer.name).contains(w.lower())
                                              for w in words])).limit(limit)).all() or \
                db.session.scalars(select(Customer).where(
                    or_(*[func.lower(Customer.name).contains(w.lower()) for w in words]))
                    .limit(limit)).all()
            for customer in customers:
                if customer.id not in known:
                    invoices = matcher.open_invoices_of(customer.id)
                    proposals.append(Proposal(NAME, CONFIDENCE[NAME], customer.id,
                                              list(invoices)))
    proposals.sort(key=lambda p: p.confidence, reverse=True)
    return proposals[:limit]
