"""Every message that asks for money carries its pay link, in every language and channel."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.time import business_today
from app.dunning.defaults import TEMPLATES_DIR
from app.dunning.runs import run
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.defaults import DEFAULTS_DIR
from app.notifications.models import Message
from app.paylinks import services
from app.requests.models import Deferral, Installment, PaymentPlan
from tests.dunning.conftest import consumer, defaults, overdue, today  # noqa: F401
from tests.notifications.received import received_text

PAY_LINK = re.compile(r"https?://[^/\s]+/portal/p/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
MONEY_EVENTS = ("promise_broken", "instalment_due", "plan_broken")
LANGUAGES = ("fr", "nl", "en")


# The hand-over letter tells the customer to deal with the collection agency from now on: it
# asks nobody to pay us, so it carries no pay link (and none is made for it).
NOT_ASKING_US = {"dunning_collection"}


def _shipped_money_templates() -> list[Path]:
    found = [path for folder in sorted(Path(TEMPLATES_DIR).iterdir())
             if folder.is_dir() and folder.name not in NOT_ASKING_US
             for path in sorted(folder.glob("*.txt"))]
    found += [path for event in MONEY_EVENTS
              for path in sorted((Path(DEFAULTS_DIR) / event).glob("*.txt"))]
    return found


def test_every_shipped_money_template_in_every_language_uses_the_pay_link():
    templates = _shipped_money_templates()
    languages = {path.name.split(".")[1] for path in templates}
    assert languages == set(LANGUAGES)
    assert len(templates) >= 3 * 2 * (len(MONEY_EVENTS) + 6)  # email + SMS, 3 languages
    for path in templates:
        assert "{{ pay_url }}" in path.read_text(encoding="utf-8"), path


def _link_in(message: Message):
    text = received_text(message)
    found = set(PAY_LINK.findall(text))
    assert len(found) == 1, text
    token = found.pop()
    assert token not in (message.body_text or ""), "the stored copy shows the token"
    assert "/portal/p/••••••" in message.body_text
    resolved = services.resolve(token)
    assert resolved.ok
    assert resolved.link.message_id == message.id, "the link does not know its message"
    return resolved.link


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reminder_carries_a_pay_link_to_its_invoices(language):
    customer = consumer(language=language, phone="+32470000001", sms_reminders=True)
    first = overdue(customer, 20, total="150.00")
    second = overdue(customer, 12, total="40.00")
    run(today())
    messages = db.session.scalars(select(Message).where(Message.customer_id == customer.id)).all()
    assert messages
    links = {_link_in(message).id: message for message in messages}
    assert len(links) == len(messages) == 2  # a link of its own in the e-mail and the SMS
    for link in services.customer_links(customer.id):
        assert sorted(link.invoice_ids) == sorted([first.id, second.id]) and link.purpose == "pay"
        assert link.message_id == links[link.id].id


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("sequence, channels", [(2, {"email", "sms"}), (3, {"email", "letter"})])
def test_every_reminder_level_records_its_message_on_its_links(sequence, channels):
    """Second reminder (e-mail + SMS) and formal notice (e-mail + letter: a letter is written
    with its print batch, not with the batch INSERT): each message's link records it."""
    from tests.dunning.conftest import remind_state

    customer = consumer(language="nl", phone="+32470000001", sms_reminders=True)
    invoice = overdue(customer, 70, total="150.00")
    remind_state(invoice, level=sequence - 1, reminded_days_ago=30)
    db.session.commit()
    run(today())
    messages = db.session.scalars(select(Message).where(Message.customer_id == customer.id)
                                  .order_by(Message.id)).all()
    assert {m.channel for m in messages} == channels
    links = services.customer_links(customer.id)
    assert sorted(link.message_id for link in links) == [m.id for m in messages]
    assert all(link.invoice_ids == [invoice.id] for link in links)
    email = next(m for m in messages if m.channel == "email")
    assert _link_in(email).message_id == email.id


@pytest.mark.usefixtures("defaults")
def test_a_reminder_queued_already_makes_no_new_link():
    customer = consumer(language="fr")
    overdue(customer, 20, total="150.00")
    run(today())
    before = [(link.id, link.message_id) for link in services.customer_links(customer.id)]
    run(today())  # the same run date again: nothing new is queued, no link made
    db.session.commit()
    assert [(link.id, link.message_id) for link in services.customer_links(customer.id)] == before
    assert len(before) == 1 and before[0][1] is not None


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_notice_before_the_due_date_carries_it(language):
    from tests.dunning.conftest import level
    from tests.helpers import make_invoice

    level("Belgian consumers", 0).active = True  # shipped switched off: staff switch it on
    db.session.commit()
    customer = consumer(language=language)
    invoice = make_invoice(customer, total="75.00", due_in_days=3)
    run(today())
    [message] = db.session.scalars(select(Message).where(Message.customer_id == customer.id))
    assert message.template.key == "dunning_pre_due"
    link = _link_in(message)
    assert link.invoice_ids == [invoice.id] and link.purpose == "due_soon"


def _customer(language):
    return consumer(language=language, phone="+32470000001", sms_reminders=True)


def _ogm(number: int) -> str:
    """A valid Belgian structured communication (10 digits and their mod-97 check)."""
    check = number % 97 or 97
    return f"{number:010d}{check:02d}"


def _plan(customer):
    from tests.helpers import make_invoice

    invoice = make_invoice(customer, total="300.00", due_in_days=-10)
    today_ = business_today()
    plan = PaymentPlan(customer=customer, status="active", total_amount=Decimal("300.00"),
                       installment_count=3, day_of_month=5, start_date=today_)
    plan.invoices.append(invoice)
    for n in range(3):
        plan.installments.append(Installment(sequence=n + 1, amount=Decimal("100.00"),
                                             due_date=today_ + timedelta(days=3 + 30 * n),
                                             structured_reference=_ogm(customer.id * 10 + n)))
    db.session.add(plan)
    db.session.commit()
    return plan, invoice


def _promise_broken(customer):
    from tests.helpers import make_invoice

    invoice = make_invoice(customer, total="300.00", due_in_days=-10)
    deferral = Deferral(customer=customer, invoice=invoice, original_due_date=invoice.due_date,
                        new_due_date=business_today() - timedelta(days=1))
    db.session.add(deferral)
    db.session.commit()
    return notifications.notify_promise_broken(deferral), invoice


def _instalment_due(customer):
    plan, invoice = _plan(customer)
    return notifications.notify_instalment_due(plan.installments[0]), invoice


def _plan_broken(customer):
    plan, invoice = _plan(customer)
    plan.status = "broken"
    db.session.commit()
    return notifications.notify_plan_broken(plan), invoice


SENDERS = {"promise_broken": _promise_broken, "instalment_due": _instalment_due,
           "plan_broken": _plan_broken}


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", MONEY_EVENTS)
def test_money_notifications_carry_a_pay_link(event, language):
    customer = _customer(language)
    messages, invoice = SENDERS[event](customer)
    db.session.commit()
    assert {m.channel for m in messages} == {"email", "sms"}
    assert {m.language for m in messages} == {language}
    for message in messages:
        link = _link_in(message)
        assert link.customer_id == customer.id and link.invoice_ids == [invoice.id]
        if message.channel == "sms":
            assert len(received_text(message)) <= 320, received_text(message)
    # The same event again queues nothing new and makes no second link.
    before = len(services.customer_links(customer.id))
    SENDERS[event]
    again = {"promise_broken": lambda: notifications.notify_promise_broken(
        db.session.scalars(select(Deferral)).one())}.get(event)
    if again:
        again()
        db.session.commit()
        assert len(services.customer_links(customer.id)) == before


@pytest.mark.usefixtures("defaults")
def test_the_instalment_link_asks_for_the_instalment(client):
    from tests.paylinks.conftest import token_path

    customer = _customer("en")
    messages, _invoice = _instalment_due(customer)
    db.session.commit()
    text = received_text(next(m for m in messages if m.channel == "sms"))
    path = token_path(text)
    assert client.get(path).status_code == 303
    page = client.get("/portal/pay-link").get_data(as_text=True)
    assert "Instalment 1" in page and "€100.00" in page and "Structured communication" in page
    assert "data:image/svg+xml;base64," in page  # its EPC QR code
