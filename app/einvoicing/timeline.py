"""Invoice responses on the customer's timeline (app.customers.timeline reads them here)."""
from __future__ import annotations

from flask_babel import gettext as _

from app.customers.timeline import Event, register_source
from app.einvoicing.responses import RESPONSE_CODES, responses_for_timeline

TONES = {"UQ": "warning", "RE": "danger", "PD": "success", "AP": "success"}


def response_events(customer_id: int, limit: int) -> list:
    events = []
    for document in responses_for_timeline(customer_id, limit):
        label = str(RESPONSE_CODES.get(document.ap_status or "", document.ap_status or ""))
        number = document.invoice.number if document.invoice is not None else "?"
        events.append(Event("e_invoice", document.created_at,
                            _("Peppol invoice response on %(invoice)s: %(status)s",
                              invoice=number, status=label),
                            document.note or "", status=document.ap_status,
                            tone=TONES.get(document.ap_status or "", "default")))
    return events


register_source(response_events)
