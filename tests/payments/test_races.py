"""Racing money decisions (issue 21, item 3): a refund, a credit note or a write-off approved
twice at the same moment is approved once; two refund proposals at once cannot share out the
same credit; two exports at once pay each refund once.
The loser gets the same translated refusal as when it comes second.

Threads with their own session, released together by a barrier (tests/requests/race_support.py),
each race run ROUNDS times, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app.core.audit_models import AuditEvent
from app.core.roles import ADMIN, CREDIT_MANAGER
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.payments.models import Allocation
from app.payments.outgoing.adjustments import (
    approve_credit_note,
    approve_write_off,
    propose_credit_note,
    propose_write_off,
    reject_credit_note,
)
from app.payments.outgoing.models import Refund, WriteOff
from app.payments.outgoing.refunds import (
    approve_refund,
    export_refunds,
    propose_refund,
    refundable,
)
from app.payments.services import book_payment
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.payments.cashout_helpers import refund_account
from tests.requests.race_support import ROUNDS, one_winner, race, refusal_text


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _user(user_id: int):
    from flask_appbuilder.security.sqla.models import User

    return db.session.get(User, user_id)


def _staff(app) -> tuple[int, int]:
    return make_staff_user(app, ADMIN).id, make_staff_user(app, CREDIT_MANAGER).id


def _overpaid(amount="80.00"):
    """A customer who paid 100.00 + ``amount`` for an invoice of 100.00, with a refund account."""
    customer = make_customer(language="en")
    make_invoice(customer, "100.00", due_in_days=-5)
    book_payment(amount=Decimal("100.00") + Decimal(amount), received_on=date.today(),
                 customer_id=customer.id)
    db.session.commit()
    refund_account(customer)
    return customer


def _approving_refund(refund_id: int, user_id: int):
    def action(ready):
        refund = db.session.get(Refund, refund_id)
        user = _user(user_id)
        assert refund.status == "proposed"
        ready()
        approve_refund(refund, user)
        db.session.commit()
    return action


def test_a_refund_approved_twice_at_once_is_approved_once(app):
    first, second = _staff(app)
    for _round in range(ROUNDS):
        customer = _overpaid()
        refund = propose_refund(customer, None)
        db.session.commit()
        _winner, [loser] = one_winner(race(app, _approving_refund(refund.id, first),
                                           _approving_refund(refund.id, second)))
        assert "Only a proposed refund can be approved." in refusal_text(loser)
        assert _count(AuditEvent, AuditEvent.action == "refund_approved",
                      AuditEvent.entity_id == str(refund.id)) == 1


def test_a_refund_proposed_twice_at_once_is_proposed_once(app):
    for _round in range(ROUNDS):
        customer = _overpaid("80.00")

        def proposing(ready, customer_id=customer.id):
            who = db.session.get(Customer, customer_id)
            ready()
            propose_refund(who, Decimal("80.00"))
            db.session.commit()

        _winner, [loser] = one_winner(race(app, proposing, proposing))
        assert "more than the customer's credit" in refusal_text(loser)
        assert _count(Refund, Refund.customer_id == customer.id) == 1


def test_two_exports_at_once_pay_each_refund_once(app):
    first, _second = _staff(app)
    for _round in range(ROUNDS):
        customer = _overpaid("80.00")
        refund = propose_refund(customer, None)
        approve_refund(refund, _user(first))
        db.session.commit()

        def exporting(ready):
            ready()
            result = export_refunds()
            db.session.commit()
            return result.batch is not None

        outcomes = race(app, exporting, exporting)
        assert sorted(o.result for o in outcomes) == [False, True]  # one file, one empty
        db.session.expire_all()
        assert db.session.get(Refund, refund.id).status == "exported"
        assert refundable(customer.id) == 0


# --- credit notes and write-offs -----------------------------------------------------------------

def _note(customer, amount="120.00") -> CreditNote:
    note = propose_credit_note(customer, amount, "Damaged goods")
    db.session.commit()
    return note


def _deciding_note(note_id: int, user_id: int, approve: bool = True):
    def action(ready):
        note = db.session.get(CreditNote, note_id)
        user = _user(user_id)
        assert note.status == "proposed"
        ready()
        (approve_credit_note if approve else reject_credit_note)(note, user)
        db.session.commit()
    return action


def test_a_credit_note_approved_twice_at_once_is_allocated_once(app):
    first, second = _staff(app)
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice = make_invoice(customer, "200.00", due_in_days=-10)
        note = _note(customer, "120.00")
        _winner, [loser] = one_winner(race(app, _deciding_note(note.id, first),
                                           _deciding_note(note.id, second)))
        assert "waiting for approval can be approved" in refusal_text(loser)
        assert _count(Allocation, Allocation.credit_note_id == note.id) == 1
        assert db.session.get(Invoice, invoice.id).open_amount == Decimal("80.00")


def test_a_credit_note_approved_and_rejected_at_once_is_decided_once(app):
    first, second = _staff(app)
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice = make_invoice(customer, "200.00", due_in_days=-10)
        note = _note(customer, "120.00")
        one_winner(race(app, _deciding_note(note.id, first, True),
                        _deciding_note(note.id, second, False)))
        db.session.expire_all()
        status = db.session.get(CreditNote, note.id).status
        expected = {"allocated": Decimal("80.00"), "rejected": Decimal("200.00")}
        assert status in expected
        assert db.session.get(Invoice, invoice.id).open_amount == expected[status]


def test_a_write_off_approved_twice_at_once_is_approved_once(app):
    first, second = _staff(app)
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice = make_invoice(customer, "40.00", due_in_days=-100)
        write_off = propose_write_off(invoice, "Too small to chase")
        db.session.commit()

        def approving(user_id, write_off_id=write_off.id):
            def action(ready):
                found = db.session.get(WriteOff, write_off_id)
                user = _user(user_id)
                ready()
                approve_write_off(found, user)
                db.session.commit()
            return action

        _winner, [loser] = one_winner(race(app, approving(first), approving(second)))
        assert "Only a proposed write-off can be approved." in refusal_text(loser)
        assert _count(AuditEvent, AuditEvent.action == "write_off_approved",
                      AuditEvent.entity_id == str(write_off.id)) == 1


def test_a_write_off_proposed_twice_at_once_waits_once(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice_id = make_invoice(customer, "40.00", due_in_days=-100).id

        def proposing(ready, invoice_id=invoice_id):
            invoice = db.session.get(Invoice, invoice_id)
            ready()
            propose_write_off(invoice, "Too small to chase")
            db.session.commit()

        _winner, [loser] = one_winner(race(app, proposing, proposing))
        assert "already waiting for approval" in refusal_text(loser)
        assert _count(WriteOff, WriteOff.invoice_id == invoice_id) == 1


# --- through the back-office pages: two staff pressing "Approve" at once ---------------------------

def _two_staff_clients(app):
    from flask import g

    from tests.backoffice.conftest import session_csrf
    from tests.helpers import logged_in_client

    clients = []
    for role in (ADMIN, CREDIT_MANAGER):
        for name in ("_login_user", "user", "csrf_token"):
            g.pop(name, None)
        client = logged_in_client(app, role)
        clients.append((client, session_csrf(app, client)))
    return clients


def _pressing(client, token, url):
    def action(ready):
        ready()
        return client.post(url, data={"csrf_token": token}, follow_redirects=True)
    return action


def test_two_staff_approving_a_refund_on_the_refunds_page(app):
    clients = _two_staff_clients(app)
    for _round in range(ROUNDS):
        customer = _overpaid()
        refund = propose_refund(customer, None)
        db.session.commit()
        url = f"/refunds/{refund.id}/approve"
        outcomes = race(app, *(_pressing(c, t, url) for c, t in clients), context=False)
        assert [o.result.status_code for o in outcomes] == [200, 200]  # never a 500
        pages = [o.result.get_data(as_text=True) for o in outcomes]
        assert sum("Only a proposed refund can be approved." in p for p in pages) == 1
        assert _count(AuditEvent, AuditEvent.action == "refund_approved",
                      AuditEvent.entity_id == str(refund.id)) == 1


def test_two_staff_approving_a_credit_note_on_the_adjustments_page(app):
    clients = _two_staff_clients(app)
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice = make_invoice(customer, "200.00", due_in_days=-10)
        note = _note(customer, "120.00")
        url = f"/adjustments/credit-notes/{note.id}/approve"
        outcomes = race(app, *(_pressing(c, t, url) for c, t in clients), context=False)
        assert [o.result.status_code for o in outcomes] == [200, 200]
        pages = [o.result.get_data(as_text=True) for o in outcomes]
        assert sum("waiting for approval can be approved" in p for p in pages) == 1
        assert _count(Allocation, Allocation.credit_note_id == note.id) == 1
        assert db.session.get(Invoice, invoice.id).open_amount == Decimal("80.00")
