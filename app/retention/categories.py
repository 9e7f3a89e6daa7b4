"""Where each data category lives, and how it is deleted or anonymised — set-wise, in SQL.

A category is made of parts: one table each, with
 * the column that says whose data it is (the subject: a customer),
 * the dates its period may count from ("document_date", "closure"),
 * the condition of rows still to purge (so that a purge done twice changes nothing),
 * the values that anonymise a row, or whether the row may be deleted,
 * the column holding a file under UPLOAD_DIR, deleted after the commit.

Everything is a Core UPDATE/DELETE over a list of customer ids (one batch), never row by row.
IBANs are cleared by setting the column to NULL (never filtered on: they may be encrypted).

A row that is still in use has no closure date yet (a bank account not retired, a refund not
paid); once the customer's relationship has ended it is no longer in use either, so its period
counts from the end of the relationship (``OrRelationshipEnd``). A bank account counts from
the earlier of its retirement and the end of the relationship: nothing is paid from or into
it after the customer has left.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_appbuilder import Model
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    case,
    delete,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import aliased

from app.core.audit_models import AuditEvent
from app.core.models import UTCDateTime, utcnow
from app.core.portal_access import PortalAccess
from app.core.sets import one_of
from app.customers.models import Address, BankAccount, Contact, Customer, Mandate
from app.dunning.models import DunningAction
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.notifications.models import Message
from app.payments.incoming.models import StatementLine
from app.payments.models import Payment
from app.payments.online.models import FINAL_STATUSES as CHECKOUT_FINAL_STATUSES
from app.payments.online.models import OnlineCheckout
from app.payments.outgoing.models import (
    CollectionBatch,
    CollectionItem,
    CreditTransferBatch,
    Refund,
    WriteOff,
)
from app.requests.models import Attachment, CustomerRequest, Dispute
from app.retention import holds

ANONYMISED_NAME = "[anonymised]"
PLACEHOLDER = "-"
TOKEN_KINDS = ("magic_link", "deep_link", "api_token")


@dataclass(frozen=True)
class OrRelationshipEnd:
    """A closure date that stays empty while the row is in use (``column``); for a customer
    whose relationship has ended, such a row counts from the end of the relationship."""

    column: Any
    customer: Any  # the part's customer column
    # True: the end of the relationship counts for every row, dated or not (the earlier of the
    # two wins); False: only for rows without a date of their own yet.
    always: bool = False


@dataclass
class Part:
    """One table of a category."""

    name: str
    model: Any
    customer: Any  # column holding the customer id
    pending: Callable[[], ColumnElement]  # rows still to purge
    dates: dict[str, Any] = field(default_factory=dict)  # basis -> date/datetime column
    values: Callable[[], dict] | None = None  # anonymise with these values
    deletable: bool = False
    file_column: Any = None
    # Only with the customer's own last invoice past its period (the customer row itself).
    guard: Callable[[date | None], ColumnElement] | None = None
    # Purged when its period passes, never by an erasure request (a file shared by customers).
    period_only: bool = False

    def condition(self, basis: str | None, cutoff: date | None) -> ColumnElement:
        """Rows still to purge, dated on or before ``cutoff`` where the basis is a date."""
        conditions = [self.pending()]
        if cutoff is not None and basis in self.dates:
            conditions.append(dated_before(self.dates[basis], cutoff))
        if self.guard is not None:
            conditions.append(self.guard(cutoff if basis != "relationship_end" else None))
        return and_(*conditions)

    def where(self, customer_ids, basis: str | None, cutoff: date | None) -> ColumnElement:
        return and_(one_of(self.customer, customer_ids), self.condition(basis, cutoff))


def before(column, cutoff: date) -> ColumnElement:
    """``column`` on or before ``cutoff`` (a date column, or a UTC timestamp column)."""
    if isinstance(column.type, (DateTime, UTCDateTime)):
        limit = datetime.combine(cutoff + timedelta(days=1), time(), tzinfo=UTC)
        return and_(column.is_not(None), column < limit)
    return and_(column.is_not(None), column <= cutoff)


def dated_before(dated, cutoff: date) -> ColumnElement:
    """A part's date (a column or ``OrRelationshipEnd``) on or before ``cutoff``."""
    if isinstance(dated, OrRelationshipEnd):
        ended = select(Customer.id).where(Customer.id == dated.customer,
                                          before(Customer.relationship_ended_on, cutoff))
        undated = true() if dated.always else dated.column.is_(None)
        return or_(before(dated.column, cutoff), and_(undated, ended.exists()))
    return before(dated, cutoff)


def _not_null(*columns) -> Callable[[], ColumnElement]:
    return lambda: or_(*[c.is_not(None) for c in columns])


def _table(name: str):
    return Model.metadata.tables.get(name)


# --- the customer row: anonymised last, once no invoice needs the name ----------------------

def _books_done(cutoff: date | None) -> ColumnElement:
    """No invoice, credit note or payment of the customer is younger than ``cutoff``."""
    ended = Customer.relationship_ended_on.is_not(None)
    if cutoff is None:
        return ended
    newer = [select(Invoice.id).where(Invoice.customer_id == Customer.id,
                                      Invoice.issue_date > cutoff),
             select(CreditNote.id).where(CreditNote.customer_id == Customer.id,
                                         CreditNote.issue_date > cutoff),
             select(Payment.id).where(Payment.customer_id == Customer.id,
                                      Payment.received_on > cutoff)]
    return and_(ended, *[~q.exists() for q in newer])


def _customer_values() -> dict:
    values = {"name": ANONYMISED_NAME, "vat_number": None, "email": None, "phone": None,
              "dunning_pause_reason": None, "risk_flags": [], "anonymised_at": utcnow()}
    if "national_number" in Customer.__table__.c:
        values["national_number"] = None
    return values


def _mandate_values() -> dict:
    values = {"signature_name": None, "signature_ip": None, "signed_place": None,
              "mandate_text": None, "bank_account_id": None}
    if "signature_user_agent" in Mandate.__table__.c:
        values["signature_user_agent"] = None
    return values


def _parts() -> dict[str, list[Part]]:
    parts: dict[str, list[Part]] = {
        "portal_access": [
            Part("portal_access", PortalAccess, PortalAccess.customer_id,
                 lambda: PortalAccess.kind.not_in(TOKEN_KINDS),
                 {"document_date": PortalAccess.created_at,
                  "closure": PortalAccess.expires_at}, deletable=True),
        ],
        "magic_links": [
            Part("portal_access", PortalAccess, PortalAccess.customer_id,
                 lambda: PortalAccess.kind.in_(TOKEN_KINDS),
                 {"document_date": PortalAccess.created_at,
                  "closure": PortalAccess.expires_at}, deletable=True),
        ],
        "contacts": [
            Part("contact", Contact, Contact.customer_id, true, deletable=True),
        ],
        "contact_details": [
            Part("customer", Customer, Customer.id, _not_null(Customer.email, Customer.phone),
                 values=lambda: {"email": None, "phone": None}),
            Part("contact", Contact, Contact.customer_id, _not_null(Contact.email, Contact.phone),
                 values=lambda: {"email": None, "phone": None}),
        ],
        "addresses": [
            Part("address", Address, Address.customer_id,
                 lambda: or_(Address.line1 != PLACEHOLDER, Address.line2.is_not(None),
                             Address.city != PLACEHOLDER),
                 values=lambda: {"line1": PLACEHOLDER, "line2": None, "postal_code": PLACEHOLDER,
                                 "city": PLACEHOLDER},
                 deletable=True),
        ],
        "bank_accounts": [
            # "No longer in use": an account counts from its retirement, or — still active when
            # the relationship ended — from the end of the relationship.
            Part("bank_account", BankAccount, BankAccount.customer_id, true,
                 {"closure": OrRelationshipEnd(BankAccount.retired_at, BankAccount.customer_id,
                                               always=True)},
                 deletable=True),
            # The IBAN copied on a refund: the refund (amount, dates) stays for the books.
            Part("refund", Refund, Refund.customer_id, _not_null(Refund.iban, Refund.bic),
                 {"closure": OrRelationshipEnd(_refund_closed(), Refund.customer_id),
                  "document_date": Refund.created_at},
                 values=lambda: {"iban": None, "bic": None}),
            *_sepa_file_parts(),
        ],
        "request_texts": [
            Part("customer_request", CustomerRequest, CustomerRequest.customer_id,
                 lambda: and_(CustomerRequest.status.in_(("approved", "rejected", "closed",
                                                          "cancelled", "withdrawn")),
                              or_(CustomerRequest.message.is_not(None),
                                  CustomerRequest.subject.is_not(None),
                                  CustomerRequest.satisfaction_comment.is_not(None),
                                  CustomerRequest.decision_note.is_not(None),
                                  CustomerRequest.referral_reason.is_not(None),
                                  CustomerRequest.referral_codes.is_not(None),
                                  CustomerRequest.subject_code.is_not(None))),
                 {"document_date": CustomerRequest.created_at,
                  "closure": CustomerRequest.decided_at},
                 # The codes carry figures (amounts) like the texts: they go with them.
                 values=lambda: {"message": None, "subject": None, "satisfaction_comment": None,
                                 "decision_note": None, "referral_reason": None,
                                 "referral_codes": None, "subject_code": None,
                                 "payload": {}}),
            Part("dispute", Dispute, Dispute.customer_id,
                 lambda: and_(Dispute.status != "open", Dispute.text.is_not(None)),
                 {"document_date": Dispute.created_at, "closure": Dispute.closed_at},
                 values=lambda: {"text": None}),
            # Why money was paid back or given up: the amounts stay, the words go.
            Part("refund", Refund, Refund.customer_id,
                 _not_null(Refund.reason, Refund.decision_note),
                 {"document_date": Refund.created_at,
                  "closure": OrRelationshipEnd(_refund_closed(), Refund.customer_id)},
                 values=lambda: {"reason": None, "decision_note": None}),
            Part("write_off", WriteOff, WriteOff.customer_id,
                 lambda: or_(WriteOff.reason != PLACEHOLDER, WriteOff.decision_note.is_not(None)),
                 {"document_date": WriteOff.created_at,
                  "closure": OrRelationshipEnd(
                      case((WriteOff.status.in_(("approved", "rejected")),
                            WriteOff.updated_at), else_=None), WriteOff.customer_id)},
                 values=lambda: {"reason": PLACEHOLDER, "decision_note": None}),
            # What the customer typed or the provider sent about an online payment; the
            # booked payment itself is in "invoices".
            Part("online_checkout", OnlineCheckout, OnlineCheckout.customer_id,
                 _not_null(OnlineCheckout.description, OnlineCheckout.note,
                           OnlineCheckout.provider_data),
                 {"document_date": OnlineCheckout.created_at,
                  "closure": OrRelationshipEnd(
                      case((OnlineCheckout.status.in_(CHECKOUT_FINAL_STATUSES),
                            OnlineCheckout.updated_at), else_=None),
                      OnlineCheckout.customer_id)},
                 values=lambda: {"description": None, "note": None, "provider_data": None}),
        ],
        "messages": [
            Part("message", Message, Message.customer_id,
                 lambda: Message.status.in_(("sent", "failed", "withdrawn")),
                 {"document_date": Message.created_at}, deletable=True),
        ],
        "dunning_actions": [
            Part("dunning_action", DunningAction, DunningAction.customer_id, true,
                 {"document_date": DunningAction.run_date},
                 values=lambda: {"explanation": {}}, deletable=True),
        ],
        "audit_events": [
            Part("audit_event", AuditEvent, AuditEvent.customer_id, true,
                 {"document_date": AuditEvent.at}, deletable=True),
        ],
        "invoices": [
            Part("invoice", Invoice, Invoice.customer_id,
                 _not_null(Invoice.pdf_path, Invoice.dunning_block_reason,
                           Invoice.dunning_blocked_by),
                 {"document_date": Invoice.issue_date},
                 values=lambda: {"pdf_path": None, "dunning_block_reason": None,
                                 "dunning_blocked_by": None},
                 file_column=Invoice.pdf_path),
            Part("credit_note", CreditNote, CreditNote.customer_id,
                 _not_null(CreditNote.reason), {"document_date": CreditNote.issue_date},
                 values=lambda: {"reason": None}),
            Part("payment", Payment, Payment.customer_id,
                 _not_null(Payment.counterparty_name, Payment.counterparty_iban,
                           Payment.communication),
                 {"document_date": Payment.received_on},
                 values=lambda: {"counterparty_name": None, "counterparty_iban": None,
                                 "iban_hash": None, "communication": None}),
            Part("statement_line", StatementLine, StatementLine.customer_id,
                 _not_null(StatementLine.counterparty_name, StatementLine.counterparty_iban,
                           StatementLine.counterparty_bic, StatementLine.free_text,
                           StatementLine.note),
                 {"document_date": StatementLine.booking_date},
                 values=lambda: {"counterparty_name": None, "counterparty_iban": None,
                                 "iban_hash": None, "counterparty_bic": None,
                                 "free_text": None, "note": None}),
            Part("mandate", Mandate, Mandate.customer_id,
                 _not_null(Mandate.signature_name, Mandate.signature_ip, Mandate.mandate_text),
                 {"document_date": Mandate.signed_on}, values=_mandate_values),
            Part("customer", Customer, Customer.id, lambda: Customer.anonymised_at.is_(None),
                 values=_customer_values, guard=_books_done),
        ],
    }
    _add_optional_tables(parts)
    return parts


def _refund_closed():
    """When a refund stopped needing the account: paid, or rejected (empty while open)."""
    return case((Refund.status == "paid", Refund.paid_at),
                (Refund.status == "rejected", Refund.updated_at), else_=None)


def _sepa_file_parts() -> list[Part]:
    """The pain.008 / pain.001 files kept on the batches name payers and their IBANs. A file
    holds several customers: it is dropped (the batch and its totals stay) once its date is past
    the period, through any customer in it — not while one of them is on legal hold (it may be
    evidence), and not by an erasure request, which would take other customers' records along.
    """
    found = []
    for name, batch, item, batch_column, dated in (
            ("collection_batch", CollectionBatch, CollectionItem, CollectionItem.batch_id,
             CollectionBatch.collection_date),
            ("credit_transfer_batch", CreditTransferBatch, Refund, Refund.batch_id,
             CreditTransferBatch.execution_date)):
        other = aliased(item)

        def pending(batch=batch, batch_column=batch_column, other=other, item=item):
            held = select(other.id).where(
                getattr(other, batch_column.key) == batch.id,
                other.customer_id.in_(holds.held_customer_ids()))
            return and_(batch_column == batch.id, batch.file_xml.is_not(None), ~held.exists())

        found.append(Part(name, batch, item.customer_id, pending,
                          {"closure": dated, "document_date": dated},
                          values=lambda: {"file_xml": None}, period_only=True))
    return found


def _add_optional_tables(parts: dict[str, list[Part]]) -> None:
    """Tables other domains add (call notes, e-mail change proofs, request conversations)."""
    notes = _table("customer_note")
    if notes is not None:
        parts["contacts"].append(Part("customer_note", notes, notes.c.customer_id, true,
                                      deletable=True))
    for name in ("email_change", "sms_code"):
        table = _table(name)
        if table is not None:
            parts["magic_links"].append(Part(name, table, table.c.customer_id, true,
                                             {"document_date": table.c.created_at,
                                              "closure": table.c.expires_at}, deletable=True))
    comments = _table("request_comment")
    if comments is not None:
        parts["request_texts"].append(Part(
            "request_comment", comments,
            select(CustomerRequest.customer_id).where(
                CustomerRequest.id == comments.c.request_id).scalar_subquery(),
            lambda: comments.c.text != PLACEHOLDER,
            {"document_date": comments.c.created_at}, values=lambda: {"text": PLACEHOLDER}))


_PARTS: dict[str, list[Part]] | None = None


def parts() -> dict[str, list[Part]]:
    global _PARTS
    if _PARTS is None:
        _PARTS = _parts()
    return _PARTS


# --- applying a part to a batch -------------------------------------------------------------

def _table_of(model):
    return getattr(model, "__table__", model)


def _id_column(model):
    return _table_of(model).c.id


def detach(table, ids_query, depth: int = 0) -> None:
    """Before deleting rows of ``table``: rows elsewhere that point at them lose the pointer
    (nullable foreign key) or go too (a child that cannot exist alone, e.g. a reminder's lines)."""
    for other in Model.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is not table or other is table:
                continue
            column = fk.parent
            among = column.in_(ids_query) if isinstance(ids_query, Select) else one_of(
                column, ids_query)
            if column.nullable:
                db.session.execute(update(other).where(among).values({column.name: None}))
            elif depth < 2:
                child_ids = select(other.c.id).where(among)
                detach(other, child_ids, depth + 1)
                db.session.execute(delete(other).where(among))


def apply_part(part: Part, customer_ids: list[int], basis: str | None, cutoff: date | None,
               action: str) -> tuple[set[int], int, list[str]]:
    """Purge this part for these customers; returns (customers touched, rows, file paths)."""
    if part.period_only and basis is None and cutoff is None:
        return set(), 0, []  # an erasure request (or its replay): see Part.period_only
    table = _table_of(part.model)
    where = part.where(customer_ids, basis, cutoff)
    found = db.session.execute(select(_id_column(part.model), part.customer).where(where)
                               .distinct()).all()
    if not found:
        return set(), 0, []
    ids = sorted({row[0] for row in found})  # a shared row (a SEPA file) comes once per customer
    touched = {row[1] for row in found}
    files: list[str] = []
    if part.file_column is not None:
        files = [p for p in db.session.scalars(
            select(part.file_column).where(one_of(_id_column(part.model), ids),
                                           part.file_column.is_not(None)))]
    if part.name == "customer_request":
        files += list(db.session.scalars(select(Attachment.storage_path).where(
            one_of(Attachment.request_id, ids))))
        db.session.execute(delete(Attachment).where(one_of(Attachment.request_id, ids)))
    if action == "delete" and part.deletable:
        detach(table, ids)
        db.session.execute(delete(table).where(one_of(table.c.id, ids)))
    else:
        values = part.values() if part.values else {}
        if values:
            db.session.execute(update(table).where(one_of(table.c.id, ids)).values(values))
    return touched, len(ids), files


def customers_with_work(part: Part, basis: str | None, cutoff: date | None
                        ) -> list[tuple[int, int, int]]:
    """[(customer id, rows to purge, smallest row id)] over the whole database, for the plan.

    A plain GROUP BY on the part's own table: holds and the end of the relationship are
    checked in Python by the caller, so the query needs no join the planner could get wrong."""
    from sqlalchemy import func

    table = _table_of(part.model)
    query = (select(part.customer.label("customer_id"), func.count(), func.min(table.c.id))
             .where(part.condition(basis, cutoff)).group_by(part.customer))
    return [(c, n, first) for c, n, first in db.session.execute(query) if c is not None]
