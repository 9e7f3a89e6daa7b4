"""GET routes of the customer API: balance, invoices, documents, statement, how to pay,
requests. Every one reads through the portal's read models with the key's customer id."""
from __future__ import annotations

import base64
import binascii
import functools
import io
from datetime import date

from flask import jsonify, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam

from app.accounts import bank_transfer, exports, invoice_detail, overview
from app.accounts import statement as account_statement
from app.accounts.invoice_states import (
    CID,
    TODAY,
    overdue_clause,
    select_with_state,
    state_from_row,
)
from app.api.customer import bp, customer
from app.api.customer import serialise as out
from app.api.customer.problems import Problem
from app.core import validation as v
from app.core.time import business_today
from app.core.validation import ValidationError
from app.einvoicing.services import has_ubl_column, invoices_with_ubl
from app.einvoicing.services import invoice_ubl as einvoice_ubl
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open

PAGE_DEFAULT, PAGE_MAX = 50, 200
INVOICE_FILTERS = ("all", "open", "overdue", "paid")
ID = "<int(max=2147483647):invoice_id>"


@bp.get("/balance")
def balance():
    """The dashboard's figures: the one balance rule (customers.services.balance_parts)."""
    board = overview.dashboard(customer())
    return jsonify({
        "currency": "EUR", "balance": out.money(board.balance_due),
        "overdue_amount": out.money(board.overdue_amount), "overdue_count": board.overdue_count,
        "payable_overdue": out.money(board.payable_overdue),
        "disputed_amount": out.money(board.disputed_amount),
        "unallocated_payments": out.money(board.unallocated),
        "next_due": out.invoice(board.next_due) if board.next_due else None,
        "next_installment": {"due_date": board.next_installment.due_date.isoformat(),
                             "amount": out.money(board.installment_left),
                             "plan_id": board.next_installment.plan_id}
        if board.next_installment else None,
        "open_request_count": board.open_request_count,
    })


def _cursor(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except (ValueError, binascii.Error, UnicodeError):
        value = -1
    if not 0 < value <= 2147483647:
        raise ValidationError({"cursor": _("This cursor is not valid: use the one from "
                                           "links.next.")})
    return value


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise ValidationError({"limit": _("Give a number from 1 to %(max)d.", max=PAGE_MAX)})
    return int(raw)


@functools.cache
def _page_query(status: str):
    """A page of invoices with their state (and whether a UBL exists), built once per process
    with bind parameters (:cid, :today, :after, :lim): building the statement with its
    correlated subqueries cost more CPU than running it (as the portal's, invoice_states)."""
    where = [Invoice.id > bindparam("after", type_=Integer), Invoice.status != "cancelled"]
    if status == "open":
        where.append(invoice_is_open())
    elif status == "overdue":
        where.append(overdue_clause(CID, TODAY))
    elif status == "paid":
        where.append(Invoice.status == "paid")
    return (select_with_state(CID, *where).add_columns(has_ubl_column(CID))
            .order_by(Invoice.id).limit(bindparam("lim", type_=Integer)))


@bp.get("/invoices")
def invoices():
    """Invoices in id order, a page at a time (cursor = the last id seen, opaque)."""
    status = request.args.get("status", "all")
    if status not in INVOICE_FILTERS:
        raise ValidationError({"status": _("Choose one of: %(values)s.",
                                           values=", ".join(INVOICE_FILTERS))})
    after, limit = _cursor(request.args.get("cursor")), _limit(request.args.get("limit"))
    cid, today = customer().id, business_today()
    rows = db.session.execute(_page_query(status), {"cid": cid, "today": today,
                                                    "after": after, "lim": limit + 1}).all()
    states = [state_from_row(row[:4], today) for row in rows[:limit]]
    with_ubl = [bool(row[4]) for row in rows[:limit]]  # has_ubl_column
    links = {}
    if len(rows) > limit:
        token = base64.urlsafe_b64encode(str(states[-1].invoice.id).encode()).decode()
        links["next"] = url_for("customer_api.invoices", status=status, limit=limit,
                                cursor=token.rstrip("="))
    return jsonify({"items": [out.invoice(s, ubl) for s, ubl in zip(states, with_ubl,
                                                                      strict=True)],
                    "links": links})


def _state(invoice_id: int):
    from app.accounts.invoice_states import invoice_state

    found = invoice_state(customer().id, invoice_id)
    if found is None:
        raise Problem(404)
    return found


@bp.get(f"/invoices/{ID}")
def invoice(invoice_id: int):
    # Content negotiation: "Accept: application/xml" asks for the Peppol UBL (the .xml route).
    if request.accept_mimetypes.best_match(["application/json", "application/xml"]) \
            == "application/xml":
        return invoice_ubl(invoice_id)
    return jsonify(out.invoice(_state(invoice_id),
                               bool(invoices_with_ubl(customer().id, [invoice_id]))))


@bp.get(f"/invoices/{ID}/pdf")
def invoice_pdf(invoice_id: int):
    from app.invoices.pdf import invoice_pdf_bytes

    found = invoice_detail.get_invoice(customer().id, invoice_id)
    if found is None:
        raise Problem(404)
    try:
        data = invoice_pdf_bytes(found)
    except ValidationError:
        raise Problem(503, _("This PDF cannot be made right now. Please try again later."),
                      headers={"Retry-After": "60"}) from None
    return send_file(io.BytesIO(data), mimetype="application/pdf",
                     download_name=f"{found.number}.pdf")


@bp.get(f"/invoices/{ID}.xml")
def invoice_ubl(invoice_id: int):
    """The Peppol UBL of the invoice, when an e-invoice was made for it (404 otherwise)."""
    found = invoice_detail.get_invoice(customer().id, invoice_id)
    data = einvoice_ubl(customer().id, invoice_id) if found is not None else None
    if data is None:
        raise Problem(404)
    return send_file(io.BytesIO(data), mimetype="application/xml",
                     download_name=f"{found.number}.xml")


def _transfer(invoice_id: int):
    found = bank_transfer.pay_invoice(customer().id, invoice_id)
    if found is None:
        raise Problem(404)
    return found


@bp.get(f"/invoices/{ID}/payment-instructions")
def payment_instructions(invoice_id: int):
    state, transfer = _transfer(invoice_id)
    if transfer is None:
        return jsonify({"invoice_id": state.invoice.id, "amount": "0.00",
                        "nothing_to_pay": True})
    return jsonify({
        "invoice_id": state.invoice.id, "nothing_to_pay": False,
        "amount": out.money(transfer.amount), "currency": "EUR",
        "beneficiary": transfer.beneficiary, "iban": transfer.iban, "bic": transfer.bic,
        "structured_communication": transfer.reference, "reference_kind": transfer.reference_kind,
        "qr": {"png": url_for("customer_api.payment_qr", invoice_id=invoice_id, fmt="png"),
               "svg": url_for("customer_api.payment_qr", invoice_id=invoice_id, fmt="svg")}
        if transfer.qr_error is None and transfer.qr_data_uri else None,
        "qr_error": transfer.qr_error,
    })


@bp.get(f"/invoices/{ID}/qr.<any(png, svg):fmt>")
def payment_qr(invoice_id: int, fmt: str):
    """The EPC QR code ("scan to pay") of what the portal asks for this invoice."""
    from app.core import bank_identifiers
    from app.invoices import epc

    _state_found, transfer = _transfer(invoice_id)
    if transfer is None or transfer.qr_error or not transfer.qr_data_uri:
        raise Problem(404, _("There is nothing to pay by QR code for this invoice."))
    # The same payload the portal's page encodes (bank_transfer builds it from these values).
    payload = epc.epc_payload(
        name=transfer.beneficiary[:epc.MAX_NAME], iban=bank_identifiers.clean_iban(transfer.iban),
        bic=transfer.bic or None, amount=transfer.amount,
        reference=epc.clean_reference(transfer.reference),
        info=_("Invoice %(number)s", number=_state_found.invoice.number)[:epc.MAX_INFO])
    qr = epc.make_qr(payload)
    data = epc.qr_png(qr, scale=6) if fmt == "png" else epc.qr_svg(qr, scale=6)
    return send_file(io.BytesIO(data), mimetype="image/png" if fmt == "png"
                     else "image/svg+xml")


def _period() -> tuple[date | None, date | None]:
    errors = v.Errors()
    start = v.a_date(request.args, "from", errors)
    end = v.a_date(request.args, "to", errors)
    if start and end and end < start:
        errors.add("to", _("The end date cannot be before the start date."))
    errors.raise_if_any()
    return start, end


@bp.get("/statement")
def statement():
    """Account statement for a period: JSON, or ?format=csv / pdf (the portal's files)."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv", "pdf"):
        raise ValidationError({"format": _("Choose one of: %(values)s.", values="json, csv, pdf")})
    start, end = _period()
    found = account_statement.statement(customer(), start, end)
    if fmt == "csv":
        return send_file(io.BytesIO(exports.statement_csv(found)), mimetype="text/csv",
                         download_name=f"statement-{found.date_to.isoformat()}.csv")
    if fmt == "pdf":
        return send_file(io.BytesIO(exports.statement_pdf(found)), mimetype="application/pdf",
                         download_name=f"statement-{found.date_to.isoformat()}.pdf")
    return jsonify({
        "from": found.date_from.isoformat(), "to": found.date_to.isoformat(),
        "opening_balance": out.money(found.opening_balance),
        "closing_balance": out.money(found.closing_balance),
        "lines": [{"date": line.on.isoformat(), "kind": line.kind, "reference": line.reference,
                   "text": line.text, "debit": out.money(line.debit),
                   "credit": out.money(line.credit), "balance": out.money(line.balance)}
                  for line in found.lines],
        "aging": [{"bucket": code, "label": str(label), "amount": out.money(amount)}
                  for code, label, amount in found.aging],
    })


@bp.get("/requests")
def requests_list():
    from app.requests import services as rs

    return jsonify({"items": [out.request(r) for r in rs.requests_of(customer().id)]})


@bp.get("/requests/<int(max=2147483647):request_id>")
def request_detail(request_id: int):
    from app.requests import services as rs

    found = rs.request_of(customer().id, request_id)
    if found is None:
        raise Problem(404)
    return jsonify(out.request(found))
