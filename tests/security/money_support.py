"""Building blocks for the approval-limit and deletion tests: a customer with money-moving
records made through the real services, a snapshot of the money-moving state, and a browser-like
session (the CSRF token read from a page, as a browser would)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask import g
from sqlalchemy import func, inspect, select

from app.core.audit_models import AuditEvent
from app.core.money_guard import ALL, protections
from app.customers.models import BankAccount
from app.extensions import db
from app.payments.outgoing.adjustments import propose_credit_note, reject_credit_note
from app.payments.services import clean_payment, post_payment
from app.requests.services import open_request
from app.retention.models import LegalHold
from app.selfservice.bank_accounts import set_refund_account
from app.selfservice.mandates import record_mandate
from tests.helpers import PASSWORD, make_customer, make_invoice, make_staff_user

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class MoneyRecords:
    customer_id: int
    big_invoice_id: int
    small_invoice_id: int
    paid_invoice_id: int
    refused_note_id: int
    payment_id: int
    allocation_id: int
    refund_account_id: int
    dd_account_id: int
    mandate_id: int
    erasure_request_id: int
    access_request_id: int
    question_request_id: int
    legal_hold_id: int
    audit_event_id: int
    message_id: int


def make_money_records() -> MoneyRecords:
    """One customer with every kind of money-moving record, made through the services."""
    from app.notifications.defaults import install_defaults
    from app.notifications.models import Message
    from app.payments.models import Allocation

    install_defaults()  # requests are acknowledged by message
    customer = make_customer(name="Target Ltd")
    big = make_invoice(customer, total="3579.41", due_in_days=-40,
                       issue_date=date.today() - timedelta(days=70))
    small = make_invoice(customer, total="40.00", due_in_days=-10,
                         issue_date=date.today() - timedelta(days=40))
    paid = make_invoice(customer, total="25.00")
    post_payment(clean_payment({"customer_number": customer.number, "reference": paid.number,
                                "amount": "25.00", "received_on": date.today().isoformat(),
                                "external_id": "PAY-1"}))
    refused = propose_credit_note(customer, "5000.00", "goodwill", None)
    reject_credit_note(refused, None)
    refund_account = set_refund_account(customer, "BE68539007547034", channel="staff")
    dd_account = BankAccount(customer=customer, iban="BE71096123456769", holder="Target Ltd",
                             purpose="direct_debit", status="pending")
    db.session.add(dd_account)
    db.session.flush()
    mandate = record_mandate(customer, dd_account, signature_name="T. Arget",
                             signed_on=date.today())
    erasure = open_request(customer, "erasure", channel="staff", subject="Erase me")
    access = open_request(customer, "access", channel="staff", subject="My data")
    question = open_request(customer, "question", channel="staff", subject="Why?")
    hold = LegalHold(customer=customer, reason="Court case 2024/17")
    db.session.add(hold)
    db.session.flush()
    event = AuditEvent(actor_type="staff", actor="someone", action="update", entity="invoice",
                       entity_id=str(big.id), customer_id=customer.id, changed_fields=["x"])
    db.session.add(event)
    db.session.commit()
    allocation = db.session.scalar(select(Allocation).where(Allocation.invoice_id == paid.id))
    message = db.session.scalar(select(Message).where(Message.customer_id == customer.id)
                                .order_by(Message.id))
    assert allocation is not None and message is not None
    return MoneyRecords(customer.id, big.id, small.id, paid.id, refused.id,
                        allocation.payment_id, allocation.id, refund_account.id, dd_account.id,
                        mandate.id, erasure.id, access.id, question.id, hold.id, event.id,
                        message.id)


# History written by the system (and by looking at pages: audit events, acknowledgements):
# not money-moving state, left out of the comparison.
HISTORY = {"AuditEvent", "Message", "DunningRun", "DunningAction", "DunningActionInvoice",
           "RetentionRun", "RetentionTombstone"}


def money_state() -> dict[str, dict[str, dict[str, str]]]:
    """model name -> row id -> protected column -> value (every column where the whole row is
    protected, but the bookkeeping timestamps), for every protected model but the history."""
    db.session.expire_all()
    state = {}
    for model, protection in protections().items():
        if model.__name__ in HISTORY:
            continue
        mapper = inspect(model)
        if protection.fields == ALL:
            columns = [a.key for a in mapper.column_attrs if a.key not in ("updated_at",)]
        else:
            columns = sorted({a.key for a in mapper.column_attrs
                              if a.key in protection.fields or a.key == "id"})
        rows = db.session.execute(select(*[getattr(model, c) for c in columns])).all()
        state[model.__name__] = {str(row.id): {c: str(getattr(row, c)) for c in columns}
                                 for row in rows}
    return state


def state_changes(before: dict, after: dict) -> dict[str, dict[str, list]]:
    """model -> {"added": [rows], "removed": [rows], "changed": [(old, new)]}, changed models
    only."""
    changes = {}
    for model in sorted(set(before) | set(after)):
        old, new = before.get(model, {}), after.get(model, {})
        found = {"added": [new[k] for k in new.keys() - old.keys()],
                 "removed": [old[k] for k in old.keys() - new.keys()],
                 "changed": [(old[k], new[k]) for k in old.keys() & new.keys()
                             if old[k] != new[k]]}
        if any(found.values()):
            changes[model] = found
    return changes


def row_count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def login(app, role: str):
    """A client signed in as ``role`` through the sign-in form; None when the role may not sign
    in to the back office (API-only users)."""
    user = make_staff_user(app, role)
    client = app.test_client()
    # The test keeps one app context open: Flask's g would carry another client's login.
    for name in ("_login_user", "user", "csrf_token"):
        g.pop(name, None)
    page = client.get("/login/").get_data(as_text=True)
    match = TOKEN.search(page)
    response = client.post("/login/", data={"username": user.username, "password": PASSWORD,
                                            "csrf_token": match.group(1) if match else ""})
    g.pop("csrf_token", None)
    if response.status_code not in (302, 303):
        return None
    return client


def page_token(client, *urls: str) -> str:
    """The CSRF token of the first of ``urls`` (then of pages any staff user opens) that shows a
    form, read from the HTML as a browser would."""
    for url in (*urls, "/resetmypassword/form", "/invoiceview/list/"):
        # The test keeps one app context, so Flask's g would hand out another session's token.
        g.pop("csrf_token", None)
        response = client.get(url)
        if response.status_code == 200:
            match = TOKEN.search(response.get_data(as_text=True))
            if match:
                return match.group(1)
    return ""


def decimal(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
