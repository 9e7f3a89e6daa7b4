"""SEPA direct debit: collecting due invoices from customers with an active mandate.

    batches = prepare_collection(collection_date, user)   # batches + pre-notifications
    xml = export_batch(batch, user)                        # pain.008.001.02, kept on the batch

- Invoices collected: open, not disputed, due on or before the collection date, of customers
  without legal proceedings/agency/insolvency and with an active mandate on a known account;
  an invoice already in a live batch is not collected twice.
- One batch (one pain.008 file, one PmtInf) per sequence type, collection date and scheme.
  Sequence: FRST for a recurrent mandate never collected before, RCUR afterwards, OOFF for a
  one-off mandate. A customer's invoices in a batch form one transaction (one end-to-end id).
- The creditor identifier (setting company.creditor_id) is checked (ISO 7064 mod 97-10 over
  the national part and the country, ``stdnum.eu.at_02``) before anything is prepared.
- Pre-notification: each debtor is told the amount and the date at least
  ``direct_debit.prenotification_days`` (14) days ahead, through the outbox, once per
  transaction (idempotency key); a collection date closer than that is refused.
- Settlement: the bank statement carries our end-to-end id (per transaction) or the payment
  information id (a batch booking); app.payments.incoming.collection_matching turns either into a
  proposal that the normal statement import books (app.payments.services.book_payment).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from stdnum.eu import at_02
from stdnum.exceptions import ValidationError as StdnumError

from app.core.i18n import day
from app.core.models import ZERO, utcnow
from app.core.settings import company_details, get_setting, register_setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer, Mandate
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.invoices.references import format_ogm
from app.payments.consequences import _safely
from app.payments.outgoing.models import CollectionBatch, CollectionItem
from app.payments.outgoing.sepa_xml import (
    DebitTransaction,
    DirectDebitFile,
    Party,
    direct_debit_xml,
    iter_text,
)

log = logging.getLogger(__name__)

register_setting("direct_debit.prenotification_days", 14, "days",
                 _l("Direct debit: customers are told of a collection this many days ahead "
                    "(pre-notification)"), "payments")
register_setting("direct_debit.batch_booking", True, "bool",
                 _l("Direct debit: ask the bank for one booking per collection file (batch "
                    "booking)"), "payments")

LIVE_BATCH = ("prepared", "exported")


def validate_creditor_id(value: str | None) -> str:
    """The SEPA creditor identifier, compact, or ValidationError (e.g. BE11ZZZ0403170701)."""
    try:
        return at_02.validate(value or "")
    except StdnumError:
        raise ValidationError({"creditor_id": _(
            "The SEPA creditor identifier %(value)s is not valid: check it in the company "
            "settings.", value=value or "—")}) from None


def prenotification_days() -> int:
    return int(get_setting("direct_debit.prenotification_days"))


def earliest_collection_date(today: date | None = None) -> date:
    return (today or business_today()) + timedelta(days=prenotification_days())


def sequence_type(mandate: Mandate, collected_before: bool) -> str:
    if mandate.sequence == "one_off":
        return "OOFF"
    return "RCUR" if (mandate.last_collection_on or collected_before) else "FRST"


def _active_mandate(customer: Customer) -> Mandate | None:
    usable = [m for m in customer.mandates
              if m.status == "active" and m.bank_account is not None
              and m.bank_account.status != "retired"
              and not (m.sequence == "one_off" and m.last_collection_on)]
    return max(usable, key=lambda m: (m.signed_on or date.min, m.id), default=None)


def collectable_invoices(collection_date: date) -> list[tuple[Invoice, Mandate]]:
    """(invoice, mandate) pairs to collect on ``collection_date``, oldest due first."""
    in_batch = (select(CollectionItem.invoice_id).join(CollectionBatch)
                .where(CollectionBatch.status.in_(LIVE_BATCH)))
    with_mandate = select(Mandate.customer_id).where(Mandate.status == "active")
    invoices = db.session.scalars(
        select(Invoice).join(Customer, Invoice.customer_id == Customer.id)
        .where(invoice_is_open(), Invoice.open_amount > 0,
               Invoice.due_date <= collection_date, Invoice.disputed.is_(False),
               Invoice.currency == "EUR", Customer.legal_status == "none",
               Invoice.customer_id.in_(with_mandate), Invoice.id.not_in(in_batch))
        .options(selectinload(Invoice.customer).selectinload(Customer.mandates)
                 .selectinload(Mandate.bank_account))
        .order_by(Invoice.due_date, Invoice.id)).all()
    pairs = []
    for invoice in invoices:
        mandate = _active_mandate(invoice.customer)
        if mandate is not None:
            pairs.append((invoice, mandate))
    return pairs


def _collected_before(mandate_ids: set[int]) -> set[int]:
    if not mandate_ids:
        return set()
    return set(db.session.scalars(
        select(CollectionItem.mandate_id).join(CollectionBatch)
        .where(CollectionItem.mandate_id.in_(mandate_ids),
               CollectionBatch.status.in_(LIVE_BATCH)).distinct()))


def prepare_collection(collection_date: date | None = None, user: Any = None, *,
                       today: date | None = None) -> list[CollectionBatch]:
    """Build the batches for ``collection_date`` and queue the pre-notifications. Caller commits.

    Running it again for the same date adds only invoices that were not collected yet (to a
    batch still "prepared", or a new one), and queues no message twice.
    """
    today = today or business_today()
    earliest = earliest_collection_date(today)
    collection_date = collection_date or earliest
    creditor_id = validate_creditor_id(get_setting("company.creditor_id"))
    if collection_date < earliest:
        raise ValidationError({"collection_date": _(
            "The collection date must be on or after %(date)s: customers are told %(days)s "
            "days ahead.", date=day(earliest),
            days=prenotification_days())})
    pairs = collectable_invoices(collection_date)
    before = _collected_before({mandate.id for _invoice, mandate in pairs})
    groups: dict[tuple[str, str], list[tuple[Invoice, Mandate]]] = defaultdict(list)
    for invoice, mandate in pairs:
        groups[(sequence_type(mandate, mandate.id in before), mandate.scheme)].append(
            (invoice, mandate))
    batches = []
    for (sequence, scheme), members in sorted(groups.items()):
        batch = _open_batch(collection_date, sequence, scheme, creditor_id, user)
        end_to_end: dict[int, str] = {item.mandate_id: item.end_to_end_id for item in batch.items}
        for invoice, mandate in members:
            e2e = end_to_end.setdefault(mandate.id, f"DD-{batch.id}-{mandate.id}")
            db.session.add(CollectionItem(batch=batch, invoice=invoice, customer=invoice.customer,
                                          mandate=mandate, amount=invoice.open_amount,
                                          end_to_end_id=e2e))
        db.session.flush()
        _totals(batch)
        batches.append(batch)
    for batch in batches:
        _pre_notify(batch)
    return batches


def _open_batch(collection_date: date, sequence: str, scheme: str, creditor_id: str,
                user: Any) -> CollectionBatch:
    batch = db.session.scalar(select(CollectionBatch).where(
        CollectionBatch.collection_date == collection_date,
        CollectionBatch.sequence_type == sequence, CollectionBatch.scheme == scheme,
        CollectionBatch.status == "prepared"))
    if batch is None:
        batch = CollectionBatch(collection_date=collection_date, sequence_type=sequence,
                                scheme=scheme, creditor_id=creditor_id, status="prepared",
                                created_by_id=getattr(user, "id", None))
        db.session.add(batch)
        db.session.flush()
        stamp = collection_date.strftime("%Y%m%d")
        batch.payment_info_id = f"DD-{stamp}-{sequence}-{batch.id}"
        batch.message_id = f"CDDD-{batch.id}-{stamp}"
    return batch


def _totals(batch: CollectionBatch) -> None:
    batch.total_amount = sum((item.amount for item in batch.items), ZERO)
    batch.transaction_count = len({item.end_to_end_id for item in batch.items})


def transactions(batch: CollectionBatch) -> dict[str, list[CollectionItem]]:
    """The batch's transactions: end-to-end id -> its items (one mandate each)."""
    grouped: dict[str, list[CollectionItem]] = defaultdict(list)
    for item in batch.items:
        grouped[item.end_to_end_id].append(item)
    return dict(grouped)


def _pre_notify(batch: CollectionBatch) -> None:
    from app.notifications.services import notify_direct_debit_notice

    # A missing template or a broken one is logged (as for payment messages); the batch stands.
    for e2e, items in transactions(batch).items():
        _safely(lambda items=items, e2e=e2e: notify_direct_debit_notice(
            items[0].mandate, batch.collection_date, sum((i.amount for i in items), ZERO),
            [i.invoice for i in items], batch.creditor_id, key=e2e))


def remittance_text(items: list[CollectionItem]) -> str:
    numbers = [item.invoice.number for item in items]
    if len(items) == 1 and items[0].invoice.structured_reference:
        return f"{numbers[0]} {format_ogm(items[0].invoice.structured_reference)}"
    return iter_text(numbers, 140)


def build_xml(batch: CollectionBatch) -> bytes:
    company = company_details()
    creditor_id = validate_creditor_id(batch.creditor_id)
    spec = DirectDebitFile(
        message_id=batch.message_id, payment_info_id=batch.payment_info_id,
        created_at=utcnow(), collection_date=batch.collection_date,
        sequence_type=batch.sequence_type, scheme=batch.scheme,
        creditor=Party(company.get("name") or "", company.get("iban") or "",
                       company.get("bic") or None),
        creditor_id=creditor_id,
        batch_booking=bool(get_setting("direct_debit.batch_booking")))
    for e2e, items in transactions(batch).items():
        mandate = items[0].mandate
        account = mandate.bank_account
        signed = mandate.signed_on or (mandate.signed_at or mandate.created_at).date()
        spec.transactions.append(DebitTransaction(
            end_to_end_id=e2e, amount=sum((i.amount for i in items), ZERO),
            mandate_id=mandate.reference, mandate_signed_on=signed,
            debtor=Party(account.holder or items[0].customer.name, account.iban, account.bic),
            remittance=remittance_text(items)))
    return direct_debit_xml(spec)


def export_batch(batch: CollectionBatch, user: Any = None) -> bytes:
    """The batch's pain.008 file. The first export fixes it (kept on the batch) and records
    the collection on each mandate; later downloads return the same file. Caller commits."""
    if batch.status == "cancelled":
        raise ValidationError({"batch": _("This collection batch was cancelled.")})
    if batch.file_xml:
        return batch.file_xml.encode("utf-8")
    if not batch.items:
        raise ValidationError({"batch": _("This collection batch is empty.")})
    data = build_xml(batch)
    batch.file_xml = data.decode("utf-8")
    batch.status, batch.exported_at = "exported", utcnow()
    for item in batch.items:
        mandate = item.mandate
        if mandate.last_collection_on is None or mandate.last_collection_on < batch.collection_date:
            mandate.last_collection_on = batch.collection_date
    return data


def cancel_batch(batch: CollectionBatch) -> None:
    """A prepared batch not sent to the bank: its invoices can be collected again."""
    if batch.status != "prepared":
        raise ValidationError({"batch": _(
            "Only a batch not yet sent to the bank can be cancelled.")})
    batch.status = "cancelled"


def batch_summary(batch: CollectionBatch) -> dict[str, Decimal | int]:
    paid = sum((item.amount for item in batch.items if item.invoice.status == "paid"), ZERO)
    return {"transactions": batch.transaction_count, "total": batch.total_amount, "paid": paid}
