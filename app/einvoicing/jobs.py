"""Background work: e-invoices for newly approved credit notes, and access-point statuses."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.plugins import PluginUnavailable
from app.core.validation import ValidationError
from app.einvoicing.models import EDocument
from app.einvoicing.outgoing import credit_notes_without_document, produce_credit_note_documents
from app.einvoicing.services import queue_delivery
from app.extensions import db
from app.notifications.channels import DeliveryError, NoChannelPlugin, plugin_for

log = logging.getLogger(__name__)


def issue_credit_note_documents() -> int:
    """Build, validate and queue the e-invoices of approved credit notes that have none yet.

    Run on every scheduler tick; cheap when there is nothing to do. Two runs at once: the
    second one's insert meets the unique constraint and is dropped (the first one's stays)."""
    notes = credit_notes_without_document()
    if not notes:
        return 0
    try:
        documents = produce_credit_note_documents(notes)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("e-invoices of credit notes %s were made by another run", [n.id for n in notes])
        return 0
    from app.notifications.outbox import enqueue_delivery

    messages = [queue_delivery(d) for d in documents if d.status == "ready"]
    db.session.commit()
    enqueue_delivery([m.id for m in messages])
    return len(messages)


def refresh_access_point_statuses(limit: int = 200) -> int:
    """Ask the access point where documents it took are now (sent → delivered or failed)."""
    documents = list(db.session.scalars(
        select(EDocument).where(EDocument.direction == "out", EDocument.status == "sent",
                                EDocument.channel == "peppol",
                                EDocument.ap_message_id.is_not(None)).limit(limit)))
    if not documents:
        return 0
    try:
        _name, plugin = plugin_for("peppol")
    except (NoChannelPlugin, PluginUnavailable):
        return 0
    from plugins.peppol_einvoice_be import DELIVERED_STATES, FAILED_STATES

    changed = 0
    try:
        for document in documents:
            try:
                state = plugin.status(document.ap_message_id)
            except DeliveryError as exc:
                log.warning("status of %s unknown: %s", document.ap_message_id, exc)
                continue
            if state != document.ap_status:
                changed += 1
            document.ap_status = state
            if state.upper() in DELIVERED_STATES:
                document.status = "delivered"
            elif state.upper() in FAILED_STATES:
                document.status = "failed"
        db.session.commit()
    finally:
        plugin.close()
    return changed


INBOX_MARKER = "ap_inbox_item"  # an EDocument row per access-point document taken by the poll


def poll_access_point_inbox(max_pages: int = 5) -> int:
    """Take the documents the access point received for us that we have not taken yet (the
    webhook's fallback: a call lost while we were down is found here). Newest first, page by
    page until a page holds nothing new. Each document is taken in its own transaction with a
    marker row (its access-point id), so a second run, a crash or a restart never applies one
    twice, and invoice responses apply once anyway (receive_response is idempotent by their
    number and sender). Returns how many documents were taken."""
    from app.einvoicing.responses import ROOT, receive_response
    from app.einvoicing.ubl_in import parse_xml
    from app.einvoicing.webhook import PLUGIN

    try:
        name, plugin = plugin_for("peppol")
    except (NoChannelPlugin, PluginUnavailable):
        return 0
    if name != PLUGIN or not hasattr(plugin, "received_documents"):
        plugin.close()
        return 0  # another access point: its plugin documents its own way in
    taken = 0
    try:
        for page in range(1, max_pages + 1):
            try:
                answer = plugin.received_documents(page=page)
            except DeliveryError as exc:
                log.warning("access point inbox unreadable: %s", exc)
                break
            ids = [str(item.get("id")) for item in answer.get("items") or []
                   if isinstance(item, dict) and item.get("id")]
            seen = set(db.session.scalars(select(EDocument.number).where(
                EDocument.direction == "in", EDocument.doc_type == INBOX_MARKER,
                EDocument.sender == PLUGIN, EDocument.number.in_([i[:60] for i in ids])))) \
                if ids else set()
            new = [i for i in ids if i[:60] not in seen]
            for document_id in new:
                try:
                    data = plugin.received_ubl(document_id)
                except DeliveryError as exc:  # try again on the next tick
                    log.warning("received document %s not read: %s", document_id, exc)
                    return taken
                marker = EDocument(direction="in", doc_type=INBOX_MARKER, sender=PLUGIN,
                                   number=document_id[:60], status="applied",
                                   failed_rules=[], findings=[])
                try:
                    is_response = parse_xml(data).tag == ROOT
                    if is_response:
                        received = receive_response(data)
                        marker.invoice_id, marker.customer_id = (received.invoice_id,
                                                                 received.customer_id)
                        marker.note = f"invoice response {received.number}: {received.status}"
                    else:
                        marker.note = "not an invoice response: not for CreditDesk"
                except ValidationError as refused:
                    db.session.rollback()
                    if "validator" in refused.errors:  # the kit could not run: next tick
                        log.warning("received document %s not checked: %s", document_id,
                                    refused.errors["validator"])
                        return taken
                    marker.status = "review"
                    marker.failed_rules = sorted(refused.errors)[:20]
                    marker.note = "; ".join(f"{field}: {message}" for field, messages
                                            in refused.errors.items()
                                            for message in messages)[:2000]
                    marker.xml = data.decode("utf-8", "replace")
                db.session.add(marker)
                try:
                    db.session.commit()
                except IntegrityError:  # another run took it at the same moment
                    db.session.rollback()
                    continue
                taken += 1
            if not new or page >= int(answer.get("pages") or 1):
                break
    finally:
        plugin.close()
    return taken
