"""Templates a person can edit safely: the variables each event declares are the ones the
senders pass and the shipped templates use, and saving refuses (with the line, nothing saved)
a template that does not compile, uses a variable its event does not have, or fails with the
event's sample values."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from jinja2 import meta
from sqlalchemy import func, select

from app.core.settings import set_setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import BankAccount, Contract, Mandate
from app.dunning.defaults import TEMPLATES_DIR
from app.dunning.defaults import install_defaults as install_dunning_defaults
from app.extensions import db
from app.notifications import outbox, services
from app.notifications.defaults import load_defaults
from app.notifications.editing import check_template
from app.notifications.events import DUNNING, EVENTS, HELP, event_for, sample_context
from app.notifications.models import MessageTemplate
from app.notifications.rendering import ENVIRONMENT, active_template
from app.payments.models import Allocation, Payment
from app.requests.models import CustomerRequest, Deferral, Installment, PaymentPlan
from tests.helpers import csrf_token, make_customer, make_invoice

SHIPPED = load_defaults() + load_defaults(TEMPLATES_DIR)


# --- the registry -------------------------------------------------------------------------------

@pytest.mark.parametrize("default", SHIPPED, ids=lambda d: f"{d.key}-{d.channel}-{d.language}")
def test_shipped_templates_use_only_their_events_variables(app, default):
    event = event_for(default.key)
    for source, html in ((default.subject, False), (default.body_text, False),
                         (default.body_html, True)):
        if source:
            used = meta.find_undeclared_variables(ENVIRONMENT.parse(source))
            assert used <= event.names(html=html), (default.key, used - event.names(html=html))


def test_every_shipped_key_has_its_event():
    keys = {d.key for d in SHIPPED}
    assert set(EVENTS) <= keys  # no event without shipped wording
    for key in keys:
        assert event_for(key) is EVENTS.get(key, DUNNING)
        assert key in EVENTS or key.startswith("dunning_"), key


@pytest.mark.parametrize("key", [*EVENTS, "dunning_reminder", "a_new_reminder"])
def test_samples_give_exactly_the_declared_variables(app, key):
    event = event_for(key)
    for language in ("fr", "nl", "en"):
        context = sample_context(key, language)
        assert set(context) == event.names(), set(context) ^ event.names()
    assert all(name in HELP for name in event.names(html=True))
    assert [name for name, _help in event.listed()][:len(event.variables)] == list(
        event.variables)


# --- the real senders pass exactly the declared variables ---------------------------------------

@pytest.fixture
def contexts(monkeypatch):
    """{template key: [set of variable names]} of every message rendered by the outbox."""
    seen: dict[str, list[set[str]]] = {}
    real = outbox.render_template

    def spy(template, context):
        seen.setdefault(template.key, []).append(set(context))
        return real(template, context)

    monkeypatch.setattr(outbox, "render_template", spy)
    return seen


def _send_every_event() -> None:
    today = business_today()
    customer = make_customer(language="fr", phone="+32470000001", sms_reminders=True,
                             email="marie@example.test")
    invoice = make_invoice(customer, total="300.00", due_in_days=-10)
    payment = Payment(customer=customer, received_on=today, amount=Decimal("60.00"),
                      method="direct_debit", return_reason="AM04")
    db.session.add_all([payment, Allocation(payment=payment, invoice=invoice,
                                            amount=Decimal("60.00"))])
    request = CustomerRequest(customer=customer, kind="deferral", status="approved")
    deferral = Deferral(customer=customer, invoice=invoice, original_due_date=invoice.due_date,
                        new_due_date=today + timedelta(days=20))
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("300.00"),
                       installment_count=2, day_of_month=5, start_date=today)
    for n in range(2):
        plan.installments.append(Installment(sequence=n + 1, amount=Decimal("150.00"),
                                             due_date=today + timedelta(days=3 + 30 * n),
                                             structured_reference=f"00000000{n + 1}97"[-12:]))
    account = BankAccount(customer=customer, iban="BE68539007547034", status="active")
    mandate = Mandate(customer=customer, bank_account=account, reference="CD-42",
                      status="active")
    contract = Contract(customer=customer, reference="CTR-1",
                        renewal_date=today + timedelta(days=45))
    db.session.add_all([request, deferral, plan, account, mandate, contract])
    db.session.commit()
    set_setting("company.email", "finance@example.test")

    services.notify_payment_received(payment)
    services.notify_payment_returned(payment)
    services.notify_account_settled(customer)
    services.notify_mandate_active(mandate)
    services.notify_request_received(request)
    services.notify_request_decided(request)
    services.notify_request_comment(SimpleNamespace(id=1, text="Voici la copie.",
                                                    request=request))
    services.notify_deferral_approved(deferral)
    services.notify_promise_broken(deferral)
    services.notify_plan_approved(plan)
    services.notify_instalment_due(plan.installments[0])
    services.notify_plan_broken(plan)
    services.notify_magic_link(customer, None, "http://x.test/portal/login/1")
    services.notify_email_change(customer, "new@example.test", "http://x.test/confirm/1")
    services.notify_email_changed(SimpleNamespace(id=1, old_email="marie@example.test",
                                                  new_email="new@example.test", contact=None,
                                                  customer=customer))
    services.notify_contract_renewal(contract)
    refund = SimpleNamespace(id=1, customer=customer, iban="BE68539007547034",
                             active_from=today + timedelta(days=3))
    services.notify_refund_account_changed(refund)
    services.notify_staff_refund_account(refund, "12")
    services.notify_sms_code(customer, "+32470000001", "123456", 10, 1)
    services.notify_direct_debit_notice(mandate, today + timedelta(days=14), Decimal("60.00"),
                                        [invoice], "BE69ZZZ0123456789", "E2E-1")
    services.notify_risk_proposal(customer, ["plan"])
    services.notify_erasure_done(customer, SimpleNamespace(id=5), ["Contacts"],
                                 [SimpleNamespace(what="Invoices", why="Law", until=today)])
    _answer_a_reply(customer, invoice)
    db.session.commit()


def _answer_a_reply(customer, invoice) -> None:
    """The answer to a customer's e-mail reply (app.inbound.actions)."""
    from app.inbound.actions import answer
    from app.inbound.models import InboundMessage

    reply = InboundMessage(dedupe_key="<reply@example.test>", sender="marie@example.test",
                           subject="RE: Rappel", kind="human", category="dispute",
                           language="fr", customer_id=customer.id, notes=[],
                           matched_words=[])
    db.session.add(reply)
    db.session.flush()
    answer(reply, customer, invoice_ids=[invoice.id], forced=True)


def test_each_senders_context_has_exactly_the_declared_variables(defaults, contexts):
    _send_every_event()
    assert set(contexts) == set(EVENTS), set(EVENTS) ^ set(contexts)
    for key, seen in contexts.items():
        for names in seen:
            assert names == EVENTS[key].names(), (key, names ^ EVENTS[key].names())


def test_a_reminders_context_has_exactly_the_dunning_variables(defaults, contexts):
    from app.dunning.runs import run
    from tests.dunning.conftest import consumer, overdue

    install_dunning_defaults()
    customer = consumer(language="nl")
    overdue(customer, 10, total="420.00")
    run(business_today())
    assert contexts, "no reminder was rendered"
    for key, seen in contexts.items():
        assert event_for(key) is DUNNING
        for names in seen:
            assert names == DUNNING.names(), (key, names ^ DUNNING.names())


# --- saving -------------------------------------------------------------------------------------

def _versions(template: MessageTemplate) -> int:
    return db.session.scalar(select(func.count(MessageTemplate.id)).where(
        MessageTemplate.key == template.key, MessageTemplate.channel == template.channel,
        MessageTemplate.language == template.language))


def test_check_template_names_the_line_and_the_field(app):
    with pytest.raises(ValidationError) as caught:
        check_template("risk_proposal", "email", "fr", "Bonjour",
                       "Bonjour\n{{ customer.name }}\n{{ total_due|money }}", None)
    [message] = caught.value.errors["body_text"]
    assert "line 3" in message and "total_due" in message
    with pytest.raises(ValidationError) as caught:
        check_template("dunning_reminder", "email", "en", "{{ deadline|date }", "ok", None)
    assert "line 1" in caught.value.errors["subject"][0]
    with pytest.raises(ValidationError) as caught:  # compiles, fails with the samples
        check_template("payment_received", "email", "en", None,
                       "Hi\n\n{{ payment_amount|date }}", None)
    assert "line 3" in caught.value.errors["body_text"][0]
    with pytest.raises(ValidationError) as caught:
        check_template("magic_link", "email", "en", None, "{{ login_url }}",
                       "{% include 'x.html' %}")
    assert "body_html" in caught.value.errors
    check_template("dunning_reminder", "sms", "nl", None,
                   "{{ total_due|money }} voor {{ deadline|date }}: {{ pay_url }}", None)


@pytest.mark.parametrize("body, line, words", [
    ("Bonjour {{ customer.name }},\n\n{{ promised_amount|money }}", 3, "promised_amount"),
    ("Bonjour\n{% for i in invoices %}\n{{ i.number }\n{% endfor %}", 3, ""),
    ("Bonjour\n{% if balance %}", 2, ""),
    ("Bonjour\n{{ ('x' * 300000000)|length }}", 2, "1000000"),
])
def test_an_edit_with_a_mistake_is_refused_with_the_line_and_nothing_is_saved(
        defaults, staff_client, body, line, words):
    client = staff_client("Credit manager")
    template = active_template("payment_received", "email", "fr")
    page = client.get(f"/messagetemplateview/edit/{template.id}").get_data(as_text=True)
    response = client.post(f"/messagetemplateview/edit/{template.id}", data={
        "csrf_token": csrf_token(page), "active": "y", "subject": template.subject,
        "body_text": body, "body_html": template.body_html})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Template error on line {line}" in text and words in text
    db.session.expire_all()
    assert _versions(template) == 1
    assert active_template("payment_received", "email", "fr").id == template.id


def test_a_new_template_with_an_unknown_variable_is_refused(defaults, staff_client):
    client = staff_client("Credit manager")
    page = client.get("/messagetemplateview/add?_l_=fr").get_data(as_text=True)
    response = client.post("/messagetemplateview/add?_l_=fr", data={
        "csrf_token": csrf_token(page), "key": "risk_proposal", "channel": "sms",
        "language": "nl", "active": "y", "body_text": "{{ total_due|money }}"})
    assert response.status_code == 200
    assert "total_due" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(MessageTemplate.id)).where(
        MessageTemplate.created_by_id.is_not(None))) == 0


def test_a_good_edit_is_saved_as_the_next_version_and_unticking_adds_none(defaults,
                                                                         staff_client):
    client = staff_client("Credit manager")
    template = active_template("risk_proposal", "sms", "en")
    page = client.get(f"/messagetemplateview/edit/{template.id}").get_data(as_text=True)
    response = client.post(f"/messagetemplateview/edit/{template.id}", data={
        "csrf_token": csrf_token(page), "active": "y",
        "body_text": "{% if propose_plan %}Spread {{ customer.balance|money }}: "
                     "{{ portal_url }}{% endif %}"})
    assert response.status_code == 302
    db.session.expire_all()
    newest = active_template("risk_proposal", "sms", "en")
    assert newest.version == 2 and newest.created_by_id is not None
    page = client.get(f"/messagetemplateview/edit/{newest.id}").get_data(as_text=True)
    client.post(f"/messagetemplateview/edit/{newest.id}", data={
        "csrf_token": csrf_token(page), "body_text": newest.body_text})  # "In use" unticked
    db.session.expire_all()
    assert _versions(newest) == 2 and not db.session.get(MessageTemplate, newest.id).active
