"""Racing decisions (issue 21, item 3): two staff deciding the same request at the same moment,
or a customer sending the same form twice in parallel, take the decision once. The loser gets
the same translated refusal as when the two arrive one after the other; never a second plan,
a second message or a 500.

Threads with their own application context and session, released together by a barrier
(tests/requests/race_support.py); each race is run ROUNDS times. They run on SQLite (writes
are serialised by the database lock) and on PostgreSQL (row locks) alike."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask import g
from sqlalchemy import func, select

from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.payments.outgoing.models import Refund
from app.payments.services import book_payment
from app.portal.auth import reset_rate_limits
from app.requests import disputes, refund_requests
from app.requests.deferrals import request_deferral
from app.requests.models import CustomerRequest, Deferral, Dispute, Installment, PaymentPlan
from app.requests.plans import request_plan
from app.requests.services import cancel_request, decide_request
from app.selfservice import mandates
from app.selfservice.bank_accounts import set_refund_account
from tests.backoffice.conftest import session_csrf
from tests.helpers import logged_in_client, make_customer, make_invoice, make_staff_user
from tests.payments.cashout_helpers import refund_account
from tests.portal.conftest import csrf_from
from tests.requests.race_support import ROUNDS, one_winner, race, refusal_text
from tests.requests.self_service_support import same_day, templates  # noqa: F401

pytestmark = pytest.mark.usefixtures("templates", "same_day")
TODAY = date.today()
ALREADY_DECIDED = "already been decided"


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _events(customer_id: int, event: str) -> int:
    return _count(Message, Message.customer_id == customer_id, Message.event == event)


def _staff(app, *roles: str) -> list[int]:
    return [make_staff_user(app, role).id for role in roles]


def _answers(customer_id: int) -> int:
    """Messages that answer a decision: the request's answer or the plan/deferral's own."""
    return _count(Message, Message.customer_id == customer_id, Message.event.in_(
        ("request_decided", "plan_approved", "deferral_approved")))


def _user(user_id: int):
    from flask_appbuilder.security.sqla.models import User

    return db.session.get(User, user_id)


def _deciding(request_id: int, user_id: int, approve: bool = True):
    """A racing staff decision through the service, committed like the queue view does."""
    def action(ready):
        req = db.session.get(CustomerRequest, request_id)
        user = _user(user_id)
        assert req.status == "received"  # both staff see the request still open
        ready()
        decide_request(req, user, approve, None)
        db.session.commit()
    return action


# --- payment plans -----------------------------------------------------------------------------

def _plan_request(customer) -> CustomerRequest:
    """24 instalments over 6,000: above the table, so staff decide."""
    invoices = [make_invoice(customer, "3000.00", due_in_days=-10),
                make_invoice(customer, "3000.00", due_in_days=-5)]
    outcome = request_plan(customer, invoices, 24, 10)
    db.session.commit()
    assert not outcome.approved
    return outcome.request


def _one_plan(customer_id: int) -> PaymentPlan:
    plans = db.session.scalars(select(PaymentPlan).where(PaymentPlan.customer_id == customer_id)
                               .execution_options(populate_existing=True)).all()
    assert len(plans) == 1, f"{len(plans)} plans"
    assert _count(Installment, Installment.plan_id == plans[0].id) == plans[0].installment_count
    assert _count(Message, Message.customer_id == customer_id,
                  Message.event == "plan_approved") == 1
    return plans[0]


def test_two_staff_approving_the_same_plan_request_make_one_plan(app):
    first, second = _staff(app, "Admin", "Credit manager")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        req = _plan_request(customer)
        _winner, [loser] = one_winner(race(app, _deciding(req.id, first),
                                           _deciding(req.id, second)))
        assert ALREADY_DECIDED in refusal_text(loser)
        plan = _one_plan(customer.id)
        assert plan.status == "active" and plan.installment_count == 24
        assert _count(Installment, Installment.plan_id == plan.id) == 24
        assert _answers(customer.id) == 1  # one decision, one message


def test_two_staff_approving_and_rejecting_at_once_take_one_decision(app):
    first, second = _staff(app, "Admin", "Credit manager")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        req = _plan_request(customer)
        _winner, _losers = one_winner(race(app, _deciding(req.id, first, True),
                                          _deciding(req.id, second, False)))
        db.session.expire_all()
        status = db.session.get(CustomerRequest, req.id).status
        plans = _count(PaymentPlan, PaymentPlan.customer_id == customer.id)
        assert (status, plans) in (("approved", 1), ("rejected", 0))
        assert _answers(customer.id) == 1  # one decision, one message


def _staff_clients(app, *roles):
    clients = []
    for role in roles:
        for name in ("_login_user", "user", "csrf_token"):
            g.pop(name, None)
        client = logged_in_client(app, role)
        clients.append((client, session_csrf(app, client)))
    return clients


def test_two_staff_approving_the_same_plan_request_on_the_queue_page(app):
    clients = _staff_clients(app, "Admin", "Credit manager")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        req = _plan_request(customer)
        url = f"/requests/queue/{req.id}/decide"

        def approving(client, token, url=url):
            def action(ready):
                ready()
                return client.post(url, data={"decision": "approve", "csrf_token": token})
            return action

        outcomes = race(app, *(approving(c, t) for c, t in clients), context=False)
        assert [o.result.status_code for o in outcomes] == [302, 302]  # never a 500
        pages = [c.get(f"/requests/queue/{req.id}").get_data(as_text=True) for c, _t in clients]
        assert sum(ALREADY_DECIDED in page for page in pages) == 1
        _one_plan(customer.id)
        assert _answers(customer.id) == 1  # one decision, one message


def _portal_twins(app, customer, form: str):
    """Two test clients on the same portal session: one browser sending the form twice."""
    from app.portal.auth import create_magic_link, sign

    reset_rate_limits()
    g.pop("csrf_token", None)
    link = f"/portal/login/{sign(create_magic_link(customer, None, None, None))}"
    db.session.commit()
    client = app.test_client()
    confirm = client.get(link)
    assert confirm.status_code == 200
    done = client.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 302
    token = csrf_from(client.get(form).get_data(as_text=True))
    twin = app.test_client()  # the same cookies, taken once the form's token is in the session
    for key, cookie in client._cookies.items():
        twin._cookies[key] = cookie
    return client, twin, token


def test_a_double_submitted_plan_form_makes_one_plan(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoices = [make_invoice(customer, "300.00", due_in_days=-10),
                    make_invoice(customer, "150.00", due_in_days=-3)]
        client, twin, token = _portal_twins(app, customer, "/portal/plan")
        data = {"csrf_token": token, "invoices": [str(i.id) for i in invoices],
                "installment_count": "3", "day_of_month": "12", "action": "confirm"}

        def submitting(who, data=data):
            def action(ready):
                ready()
                return who.post("/portal/plan", data=data)
            return action

        outcomes = race(app, submitting(client), submitting(twin), context=False)
        codes = sorted(o.result.status_code for o in outcomes)
        assert codes == [302, 400], codes  # one plan, one refusal; never a 500
        refused = next(o.result for o in outcomes if o.result.status_code == 400)
        assert "already in a payment plan" in refused.get_data(as_text=True), \
            refused.get_data(as_text=True)
        plan = _one_plan(customer.id)
        assert plan.status == "active"
        assert _count(CustomerRequest, CustomerRequest.customer_id == customer.id) == 1


def test_a_plan_asked_twice_at_once_through_the_service_makes_one_plan(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        ids = [make_invoice(customer, "300.00", due_in_days=-10).id]

        def asking(ready, customer_id=customer.id, ids=ids):
            who = db.session.get(Customer, customer_id)
            ready()
            outcome = request_plan(who, ids, 3, 12)
            db.session.commit()
            return outcome

        _winner, [loser] = one_winner(race(app, asking, asking))
        assert "already in a payment plan" in refusal_text(loser)
        _one_plan(customer.id)


# --- deferrals -------------------------------------------------------------------------------

def test_two_staff_approving_the_same_deferral_make_one_deferral(app):
    first, second = _staff(app, "Admin", "AR clerk")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice = make_invoice(customer, "5000.00", due_in_days=-5)  # above the amount rule
        outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=20))
        db.session.commit()
        assert not outcome.approved
        _winner, [loser] = one_winner(race(app, _deciding(outcome.request.id, first),
                                           _deciding(outcome.request.id, second)))
        assert ALREADY_DECIDED in refusal_text(loser)
        assert _count(Deferral, Deferral.customer_id == customer.id) == 1
        assert _events(customer.id, "deferral_approved") == 1
        assert _events(customer.id, "request_decided") == 0  # the deferral's is the answer


def test_a_deferral_asked_twice_at_once_is_made_once(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        ids = [make_invoice(customer, "300.00", due_in_days=-2).id]

        def asking(ready, customer_id=customer.id, ids=ids):
            who = db.session.get(Customer, customer_id)
            ready()
            outcome = request_deferral(who, ids, TODAY + timedelta(days=10))
            db.session.commit()
            return outcome

        outcomes = race(app, asking, asking)
        assert _count(Deferral, Deferral.customer_id == customer.id) == 1
        # The second one finds the first deferral: referred to staff ("deferred once").
        assert sorted(o.result.approved for o in outcomes if o.won) in ([True], [False, True])
        assert _events(customer.id, "deferral_approved") == 1


# --- disputes --------------------------------------------------------------------------------

def test_a_dispute_decided_twice_at_once_is_closed_once(app):
    first, second = _staff(app, "Admin", "AR clerk")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice = make_invoice(customer, "200.00", due_in_days=-5)
        dispute = disputes.open_dispute(customer, invoice, "80.00", "quality", "Broken")
        db.session.commit()
        _winner, [loser] = one_winner(race(app, _deciding(dispute.request_id, first, True),
                                          _deciding(dispute.request_id, second, False)))
        assert ALREADY_DECIDED in refusal_text(loser)
        db.session.expire_all()
        status = db.session.get(CustomerRequest, dispute.request_id).status
        assert db.session.get(Dispute, dispute.id).status == \
            {"approved": "upheld", "rejected": "rejected"}[status]
        assert _events(customer.id, "request_decided") == 1


def test_a_dispute_sent_twice_at_once_disputes_the_amount_once(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        invoice_id = make_invoice(customer, "200.00", due_in_days=-5).id

        def disputing(ready, customer_id=customer.id, invoice_id=invoice_id):
            who = db.session.get(Customer, customer_id)
            ready()
            found = disputes.open_dispute(who, invoice_id, None, "quality", "Never arrived")
            db.session.commit()
            return found

        _winner, [loser] = one_winner(race(app, disputing, disputing))
        assert "already disputed" in refusal_text(loser)
        assert _count(Dispute, Dispute.invoice_id == invoice_id) == 1
        db.session.expire_all()
        assert db.session.get(Invoice, invoice_id).disputed_amount == Decimal("200.00")


# --- refunds asked on the portal ---------------------------------------------------------------

def _in_credit(amount="80.00"):
    customer = make_customer(language="en")
    make_invoice(customer, "100.00", due_in_days=-5)
    book_payment(amount=Decimal("100.00") + Decimal(amount), received_on=TODAY,
                 customer_id=customer.id)
    db.session.commit()
    refund_account(customer)
    return customer


def test_two_staff_approving_the_same_refund_request_make_one_refund(app):
    first, second = _staff(app, "Admin", "Credit manager")
    for _round in range(ROUNDS):
        customer = _in_credit()
        req = refund_requests.request_refund(customer, "80.00")
        db.session.commit()
        _winner, [loser] = one_winner(race(app, _deciding(req.id, first),
                                           _deciding(req.id, second)))
        assert ALREADY_DECIDED in refusal_text(loser)
        assert _count(Refund, Refund.customer_id == customer.id) == 1
        assert _events(customer.id, "request_decided") == 1


def test_a_refund_asked_twice_at_once_asks_for_the_credit_once(app):
    for _round in range(ROUNDS):
        customer = _in_credit()

        def asking(ready, customer_id=customer.id):
            who = db.session.get(Customer, customer_id)
            ready()
            req = refund_requests.request_refund(who, "80.00")
            db.session.commit()
            return req

        _winner, [loser] = one_winner(race(app, asking, asking))
        assert "no credit on your account" in refusal_text(loser)
        assert _count(CustomerRequest, CustomerRequest.customer_id == customer.id,
                      CustomerRequest.kind == "refund") == 1


# --- mandates and refund accounts ------------------------------------------------------------

def _signed(customer) -> Mandate:
    mandate = mandates.sign_mandate(customer, iban="BE68 5390 0754 7034",
                                    signature_name="Marie Dupont", consent=True)
    db.session.commit()
    return mandate


def test_two_staff_confirming_the_same_mandate_confirm_it_once(app):
    first, second = _staff(app, "Admin", "Credit manager")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        mandate_id = _signed(customer).id

        def confirming(user_id, mandate_id=mandate_id):
            def action(ready):
                mandate = db.session.get(Mandate, mandate_id)
                user = _user(user_id)
                ready()
                mandates.staff_decide(mandate, user, True)
                db.session.commit()
            return action

        _winner, [loser] = one_winner(race(app, confirming(first), confirming(second)))
        assert refusal_text(loser)
        assert _events(customer.id, "mandate_active") == 1
        assert _events(customer.id, "request_decided") == 0  # the mandate's message answers
        db.session.expire_all()
        assert db.session.get(Mandate, mandate_id).status == "active"


def test_a_mandate_revoked_while_staff_confirm_it_ends_one_way(app):
    [staff] = _staff(app, "Admin")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        mandate_id = _signed(customer).id
        req_id = db.session.scalar(select(CustomerRequest.id).where(
            CustomerRequest.customer_id == customer.id, CustomerRequest.kind == "mandate"))

        def revoking(ready, customer_id=customer.id):
            who = db.session.get(Customer, customer_id)
            ready()
            mandates.revoke_mandate(who)
            db.session.commit()

        outcomes = race(app, _deciding(req_id, staff), revoking)
        db.session.expire_all()
        mandate = db.session.get(Mandate, mandate_id)
        req = db.session.get(CustomerRequest, req_id)
        who = db.session.get(Customer, customer.id)
        if outcomes[0].won and outcomes[1].won:  # confirmed, then revoked: back to transfer
            assert mandate.status == "revoked" and req.status == "approved"
        elif outcomes[0].won:
            pytest.fail("the customer's revocation was refused after a confirmation")
        else:  # revoked first: the request was cancelled, the confirmation refused
            assert mandate.status == "revoked" and req.status == "cancelled"
        assert who.payment_method == "transfer"


def test_two_revocations_at_once_revoke_once(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        _signed(customer)

        def revoking(ready, customer_id=customer.id):
            who = db.session.get(Customer, customer_id)
            ready()
            mandates.revoke_mandate(who)
            db.session.commit()

        _winner, [loser] = one_winner(race(app, revoking, revoking))
        assert "no direct debit mandate to revoke" in refusal_text(loser)
        assert _count(CustomerRequest, CustomerRequest.customer_id == customer.id,
                      CustomerRequest.kind == "mandate",
                      CustomerRequest.payload["action"].as_string() == "revoke") == 1


def test_two_mandates_signed_at_once_leave_one_pending(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")

        def signing(ready, customer_id=customer.id):
            who = db.session.get(Customer, customer_id)
            ready()
            mandates.sign_mandate(who, iban="BE68 5390 0754 7034",
                                  signature_name="Marie Dupont", consent=True)
            db.session.commit()

        _winner, [loser] = one_winner(race(app, signing, signing))
        assert "waiting for our confirmation" in refusal_text(loser)
        assert _count(Mandate, Mandate.customer_id == customer.id) == 1


def test_a_refund_account_given_twice_at_once_leaves_one_pending(app):
    for _round in range(ROUNDS):
        customer = make_customer(language="en")

        def giving(iban, customer_id=customer.id):
            def action(ready):
                who = db.session.get(Customer, customer_id)
                ready()
                set_refund_account(who, iban)
                db.session.commit()
            return action

        race(app, giving("BE68539007547034"), giving("BE71096123456769"))
        # As one after the other: the later account replaces the earlier one (retired).
        assert _count(BankAccount, BankAccount.customer_id == customer.id,
                      BankAccount.status == "pending") == 1
        assert _count(BankAccount, BankAccount.customer_id == customer.id,
                      BankAccount.status == "retired") == 1


def test_cancelling_while_staff_decide_ends_one_way(app):
    [staff] = _staff(app, "Admin")
    for _round in range(ROUNDS):
        customer = make_customer(language="en")
        req = _plan_request(customer)

        def cancelling(ready, request_id=req.id):
            found = db.session.get(CustomerRequest, request_id)
            ready()
            cancel_request(found)
            db.session.commit()

        _winner, _loser = one_winner(race(app, _deciding(req.id, staff), cancelling))
        db.session.expire_all()
        status = db.session.get(CustomerRequest, req.id).status
        plans = _count(PaymentPlan, PaymentPlan.customer_id == customer.id)
        assert (status, plans) in (("approved", 1), ("cancelled", 0))


# --- the database's own guarantee (migration races_0007) ----------------------------------------

def test_the_database_refuses_a_second_plan_for_one_request(app):
    from sqlalchemy.exc import IntegrityError

    customer = make_customer(language="en")
    req = _plan_request(customer)
    decide_request(req, None, True, None)
    db.session.commit()
    plan = _one_plan(customer.id)
    db.session.add(PaymentPlan(customer_id=customer.id, request_id=req.id, status="active",
                               total_amount=plan.total_amount, installment_count=1,
                               day_of_month=1, start_date=TODAY))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def _migration():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "migrations" / "versions" / "races_0007_one_decision.py"
    spec = importlib.util.spec_from_file_location("races_0007", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(step) -> None:
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    db.session.rollback()  # PostgreSQL: DDL waits for this session's locks on the tables
    with db.engine.begin() as connection, \
            Operations.context(MigrationContext.configure(connection)):
        step()


def test_the_migration_skips_an_index_that_old_duplicates_prevent(app, caplog):
    """Plans made twice before the fix must not stop the upgrade: that index is skipped with a
    warning naming the rows, the others are built; resolved, a re-run builds it."""
    from sqlalchemy import inspect as schema_of

    migration = _migration()
    customer = make_customer(language="en")
    req = _plan_request(customer)
    decide_request(req, None, True, None)
    db.session.commit()
    plan = _one_plan(customer.id)
    try:
        _run(migration.downgrade)
        db.session.add(PaymentPlan(customer_id=customer.id, request_id=req.id, status="active",
                                   total_amount=plan.total_amount, installment_count=1,
                                   day_of_month=1, start_date=TODAY))
        db.session.commit()
        _run(migration.upgrade)
        names = {i["name"] for i in schema_of(db.engine).get_indexes("payment_plan")}
        assert "uq_payment_plan_request" not in names
        assert "uq_payment_plan_request not created" in caplog.text
        assert "uq_refund_request" in {i["name"] for i in schema_of(db.engine).get_indexes(
            "refund")}
    finally:
        db.session.rollback()
        db.session.execute(PaymentPlan.__table__.update().where(
            PaymentPlan.request_id == req.id, PaymentPlan.id != plan.id)
            .values(status="cancelled"))
        db.session.commit()
        _run(migration.downgrade)
        _run(migration.upgrade)
    names = {i["name"] for i in schema_of(db.engine).get_indexes("payment_plan")}
    assert "uq_payment_plan_request" in names
