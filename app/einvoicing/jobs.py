"""Background work: e-invoices for newly approved credit notes, and access-point statuses."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.plugins import PluginUnavailable
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
