"""Recognising our own direct-debit collections on a bank statement (a rule of the Matcher).

A collection comes back as money in either per transaction, with the end-to-end id we wrote
in the pain.008 file (app.payments.outgoing.direct_debit), or as one batch booking for the whole
payment information block, with its PmtInfId in the entry's references or free text. Either
names exactly the invoices collected, so the proposal is as sure as a structured reference;
an amount that differs from what was collected leaves it to a person.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from app.core.models import ZERO
from app.core.sets import where_in
from app.extensions import db
from app.invoices.models import Invoice
from app.payments.outgoing.models import CollectionBatch, CollectionItem

COLLECTION_E2E = "collection_end_to_end"
COLLECTION_BATCH = "collection_batch"
CONFIDENCE = Decimal("0.99")
DOUBTFUL = Decimal("0.60")


@dataclass
class CollectionFound:
    """A statement line that is one of our collections: the invoices it collected."""

    rule: str                       # COLLECTION_E2E or COLLECTION_BATCH
    confidence: Decimal
    customer_id: int | None         # None when the collection spans several customers
    invoices: list[Invoice]
    notes: list[str] = field(default_factory=list)


def collections_in(lines: dict, load_invoices: Callable) -> dict[int, CollectionFound]:
    """{index: CollectionFound} for the lines that are ours.

    ``lines``: index -> (StatementLine, the words of its texts and bank reference that may be
    ids); ``load_invoices(condition)``: the matcher's invoice loader (rows it can book on).
    The matcher turns each finding into a proposal of its rule 0.
    """
    e2e_ids = {line.end_to_end_id for line, _words in lines.values() if line.end_to_end_id}
    tokens = {i: words for i, (_line, words) in lines.items()}
    by_e2e: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    for condition in where_in(CollectionItem.end_to_end_id, sorted(e2e_ids)):
        for e2e, invoice_id, amount in db.session.execute(
                select(CollectionItem.end_to_end_id, CollectionItem.invoice_id,
                       CollectionItem.amount).join(CollectionBatch)
                .where(condition, CollectionBatch.status == "exported")):
            by_e2e[e2e].append((invoice_id, amount))
    wanted = {t for found in tokens.values() for t in found if t.startswith("DD-")}
    by_batch: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    for condition in where_in(CollectionBatch.payment_info_id, sorted(wanted)):
        for info_id, invoice_id, amount in db.session.execute(
                select(CollectionBatch.payment_info_id, CollectionItem.invoice_id,
                       CollectionItem.amount).join(CollectionItem)
                .where(condition, CollectionBatch.status == "exported")):
            by_batch[info_id].append((invoice_id, amount))
    if not by_e2e and not by_batch:
        return {}
    found: dict[int, tuple[str, list[tuple[int, Decimal]]]] = {}
    for i, (line, _words) in lines.items():
        if line.end_to_end_id in by_e2e:
            found[i] = (COLLECTION_E2E, by_e2e[line.end_to_end_id])
        else:
            batch = next((t for t in sorted(tokens[i]) if t in by_batch), None)
            if batch is not None:
                found[i] = (COLLECTION_BATCH, by_batch[batch])
    invoice_ids = sorted({invoice_id for _rule, items in found.values() for invoice_id, _a in items})
    invoices = {}
    for condition in where_in(Invoice.id, invoice_ids):
        for invoice in load_invoices(condition):
            invoices[invoice.id] = invoice
    result = {}
    for i, (rule, items) in found.items():
        chosen = [invoices[invoice_id] for invoice_id, _a in items if invoice_id in invoices]
        customers = {invoice.customer_id for invoice in chosen}
        finding = CollectionFound(rule, CONFIDENCE,
                                  customer_id=customers.pop() if len(customers) == 1 else None,
                                  invoices=sorted(chosen, key=lambda inv: (inv.due_date, inv.id)))
        if lines[i][0].amount != sum((amount for _id, amount in items), ZERO):
            finding.confidence = DOUBTFUL
            finding.notes.append("amount_differs")
        result[i] = finding
    return result
