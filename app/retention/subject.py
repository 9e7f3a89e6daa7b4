"""Data-subject rights: a customer's copy of their data (JSON and PDF), and erasure.

Access (GDPR art. 15, 20): ``export_data(customer)`` collects every row that names the customer
(any table with a ``customer_id``, and the rows hanging off those: invoice lines, attachments'
descriptions, instalments, request conversations...), secrets left out (token hashes, storage
paths). The PDF shows the same content readably, in the customer's language: every field and
code by its label (app/retention/export_labels.py), internal row numbers left out.

Erasure (GDPR art. 17): the request is opened from the portal and decided in the staff queue.
Approving it runs ``on_erasure_decision``: what nothing requires is deleted (portal access,
contact persons, e-mail addresses and phone numbers, bank accounts, messages, free texts and
attachments, reminders) — unless a legal hold needs it for a claim (art. 17(3)(e)) — and what
the books need (invoices and payments with the name and address printed on them) is kept
until the end of its legal period (art. 17(3)(b)). The customer is told, in their language,
what is kept, why (the article of law) and until when (``notify_erasure_done``).

The deletion runs when the decision is committed (a ``before_commit`` hook), after the
messages of the decision were queued to the address that is about to go; the tombstone is
journalled in that hook too (before the commit: see ``purge.execute``), files are deleted after
the commit.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_appbuilder import Model
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.core.i18n import day, language_locale
from app.core.models import utcnow
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.payments.models import Payment
from app.requests.models import CustomerRequest
from app.requests.services import register_decision_handler
from app.retention import holds, purge
from app.retention.export_labels import SECTION_TITLES, code_labels, row_cells
from app.retention.purge import months_before
from app.retention.rules import CATEGORIES, active_rules

log = logging.getLogger(__name__)

# Columns never handed out: secrets and internal file locations.
HIDDEN_COLUMNS = {"token_hash", "code_hash", "storage_path", "password", "provider_data",
                  "iban_hash", "idempotency_key", "body_html", "sealed_body"}
# Internal tables: not data about the customer.
SKIPPED_TABLES = {"retention_tombstone", "retention_run", "number_sequence"}


# --- access ----------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return None
    return value


def _tables_with_customer() -> list:
    return [t for t in Model.metadata.sorted_tables
            if "customer_id" in t.c and t.name not in SKIPPED_TABLES]


def _rows(table, where) -> list[dict]:
    """Rows of a table through the ORM class when there is one (decrypts encrypted columns)."""
    mapped = _mapped_class(table)
    columns = [c for c in table.c if c.name not in HIDDEN_COLUMNS]
    if mapped is not None:
        entities = [getattr(mapped, c.key) for c in columns if hasattr(mapped, c.key)]
        result = db.session.execute(select(*entities).where(where).order_by(table.c.id)
                                    if "id" in table.c else select(*entities).where(where))
        names = [e.key for e in entities]
    else:
        result = db.session.execute(select(*columns).where(where))
        names = [c.name for c in columns]
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in result]


def _mapped_class(table):
    for mapper in Model.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    return None


def export_data(customer: Customer) -> dict[str, Any]:
    """Everything held about this customer, as plain JSON-ready values."""
    data: dict[str, Any] = {"generated_at": utcnow().isoformat(),
                            "customer": _rows(Customer.__table__,
                                              Customer.__table__.c.id == customer.id)}
    found_ids: dict[str, list[int]] = {}
    for table in _tables_with_customer():
        rows = _rows(table, table.c.customer_id == customer.id)
        if rows:
            data[table.name] = rows
            if "id" in table.c:
                found_ids[table.name] = [r["id"] for r in rows if "id" in r]
    # One level down: rows that belong to rows of the customer (lines, instalments, ...).
    for table in Model.metadata.sorted_tables:
        if table.name in data or table.name in SKIPPED_TABLES or "customer_id" in table.c:
            continue
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if parent in found_ids and parent != "customer" and found_ids[parent]:
                rows = _rows(table, fk.parent.in_(found_ids[parent]))
                if rows:
                    data.setdefault(table.name, []).extend(rows)
    return data


def export_json(customer: Customer) -> bytes:
    return json.dumps(export_data(customer), ensure_ascii=False, indent=2).encode("utf-8")


def export_pdf(customer: Customer) -> bytes:
    """The same data, readable, in the customer's language."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle

    from app.core.settings import company_details
    from app.invoices.pdf import INK, RULE, P, pdf_text

    data = export_data(customer)
    company = company_details()
    buffer = io.BytesIO()
    with force_locale(language_locale(customer.language)):
        title = _("Your personal data")
        document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm,
                                     rightMargin=16 * mm, topMargin=16 * mm,
                                     bottomMargin=16 * mm, title=pdf_text(title),
                                     author=pdf_text(company["name"]), creator="CreditDesk")
        story = [P(company["name"], "seller"), Spacer(1, 4 * mm), P(title, "heading"),
                 P(_("Everything %(company)s holds about customer %(number)s on %(date)s.",
                     company=company["name"], number=customer.number,
                     date=day(business_today()))),
                 P(_("The same data is available as a machine-readable JSON file in your "
                     "customer area."), "small")]
        width = A4[0] - 32 * mm
        codes = code_labels()
        for section, rows in data.items():
            if section == "generated_at" or not rows:
                continue
            tables = []
            for row in rows:
                cells = [[P(str(label), "label"), P(_cell(value))]
                         for label, value in row_cells(section, row, codes)]
                if not cells:
                    continue  # only links between rows (e.g. which invoices a request names)
                table = Table(cells, colWidths=[50 * mm, width - 50 * mm])
                table.setStyle(TableStyle([
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEABOVE", (0, 0), (-1, 0), 0.6, INK),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
                tables += [table, Spacer(1, 2 * mm)]
            if tables:
                story += [Spacer(1, 6 * mm),
                          P(f"{SECTION_TITLES.get(section, section.replace('_', ' '))} "
                            f"({len(rows)})", "heading"), Spacer(1, 2 * mm), *tables]
        document.build(story)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- erasure ---------------------------------------------------------------------------------

# What an erasure deletes when nothing holds the customer's data; with a legal hold only the
# first two (sign-in records), the rest is needed for the claim.
ERASED_WITHOUT_HOLD = ("portal_access", "magic_links", "contacts", "contact_details",
                       "bank_accounts", "request_texts", "messages", "dunning_actions")
ERASED_WITH_HOLD = ("portal_access", "magic_links")
_PENDING = "creditdesk_retention_erasures"
_DONE = "creditdesk_retention_erased_runs"


@dataclass
class KeptItem:
    what: str
    why: str
    until: date | None


def erasure_outcome(customer: Customer, today: date | None = None
                    ) -> tuple[list[str], list[KeptItem]]:
    """(categories deleted, what is kept with why and until when) — in the current locale."""
    today = today or business_today()
    reasons = holds.hold_reasons(customer, today)
    rules = active_rules()
    language = customer.language or "en"
    erased = ERASED_WITH_HOLD if reasons else ERASED_WITHOUT_HOLD
    kept: list[KeptItem] = []
    if reasons:
        until = max((r[2] for r in reasons if r[2] is not None), default=None)
        why = rules["request_texts"].basis_in(language) if "request_texts" in rules else ""
        hold_text = "; ".join(r[1] for r in reasons)
        kept.append(KeptItem(_("Your other data (contacts, messages, requests, reminders, "
                               "bank accounts)"),
                             f"{hold_text} {why}".strip(), until))
    invoices = rules.get("invoices")
    latest = db.session.scalar(select(func.max(Invoice.issue_date)).where(
        Invoice.customer_id == customer.id))
    if invoices is not None and latest is not None:
        until = _add_months(latest, invoices.period_months)
        kept.append(KeptItem(_("Your invoices and payments, with the name and address printed "
                               "on them"), invoices.basis_in(language), until))
    audit = rules.get("audit_events")
    if audit is not None:
        kept.append(KeptItem(_("The record of changes made to your data (without their "
                               "content)"), audit.basis_in(language),
                             _add_months(today, audit.period_months)))
    return [str(CATEGORIES[c].label) for c in erased], kept


def _add_months(day_: date, months: int) -> date:
    return months_before(day_, -int(months or 0))


def on_erasure_decision(req, approved: bool, user) -> None:
    """Decision handler for kind "erasure": on approval, tell the customer and erase at commit."""
    if not approved:
        return
    customer = req.customer
    with force_locale(language_locale(customer.language)):
        deleted, kept = erasure_outcome(customer)
    from app.notifications.services import notify_erasure_done

    notify_erasure_done(customer, req, deleted, kept)
    held = bool(holds.hold_reasons(customer))
    categories = ERASED_WITH_HOLD if held else ERASED_WITHOUT_HOLD
    rules = active_rules()
    actions = {c: (rules[c].action if c in rules else CATEGORIES[c].actions[0])
               for c in categories}
    if not held and customer.relationship_ended_on is None:
        customer.relationship_ended_on = business_today()
    db.session.info.setdefault(_PENDING, []).append(
        (customer.id, actions, f"erasure request #{req.id}"))


@event.listens_for(Session, "before_commit")
def _erase_before_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    runs = []
    for customer_id, actions, triggered_by in pending:
        runs.append(purge.purge_customer(customer_id, actions, triggered_by))
    session.flush()
    session.info.setdefault(_DONE, []).extend(runs)


@event.listens_for(Session, "after_commit")
def _files_after_commit(session: Session) -> None:
    """Delete the files; a file that cannot go stays listed on the run (pending_files) and the
    next purge run retries it. (The tombstone was journalled before the commit.)"""
    for run in session.info.pop(_DONE, None) or []:
        try:
            purge.delete_files(run.pending_files or [])
        except Exception:
            log.exception("erasure run %s: files not deleted", run.id)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_DONE, None)


register_decision_handler("erasure", on_erasure_decision)


# --- deleting a customer by hand ------------------------------------------------------------------

def check_customer_deletable(customer: Customer) -> None:
    """A customer is deleted by hand only while nothing the books or the law keep names them:
    invoices, money received or credited, and requests (GDPR ones above all) outlive such a
    deletion, and the retention rules anonymise the customer when their time has come.
    ValidationError({"customer": [message]}) otherwise."""
    invoices = db.session.scalar(select(func.count()).select_from(Invoice)
                                 .where(Invoice.customer_id == customer.id))
    if invoices:
        raise ValidationError({"customer": [ngettext(
            "This customer has %(num)s invoice and cannot be deleted; the retention rules "
            "anonymise customers when their time has come.",
            "This customer has %(num)s invoices and cannot be deleted; the retention rules "
            "anonymise customers when their time has come.", invoices)]})
    for model in (Payment, CreditNote, CustomerRequest):
        if db.session.scalar(select(func.count()).select_from(model)
                             .where(model.customer_id == customer.id)):
            raise ValidationError({"customer": [_(
                "This customer has payments, credit notes or requests on record and cannot be "
                "deleted; the retention rules anonymise customers when their time has come.")]})
