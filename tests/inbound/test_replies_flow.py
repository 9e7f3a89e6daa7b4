"""What a reply does, seen the way staff and customers see it: tokens, timeline, pauses,
answers, corrections, bounces, loops, the review list and the 360° page."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.dunning.engine import evaluate
from app.dunning.holds import holds_of
from app.extensions import db
from app.inbound.models import FailingAddress, InboundMessage
from app.inbound.receiving import receive
from app.notifications.channels import message_id_for
from app.notifications.models import Message
from app.notifications.reply_tokens import plus_address, token_for
from app.paylinks import services as paylinks
from app.requests.models import CustomerRequest
from tests.dunning.conftest import consumer, overdue, texts, today
from tests.helpers import csrf_for
from tests.inbound import mails
from tests.inbound.test_polling import sent_reminder
from tests.notifications.received import received_text


@pytest.fixture
def dunning_defaults():
    from app.dunning.defaults import install_defaults

    install_defaults()


def our_message_id(message: Message) -> str:
    return message_id_for(message.idempotency_key, "example.test", message.id)


def test_reply_token_in_the_plus_address_ties_even_from_another_address():
    customer = consumer(email="marie@example.test", language="fr")
    message = sent_reminder(customer)
    to = plus_address("billing@example.test", message.id)
    assert re.fullmatch(r"billing\+r\d+-[0-9a-f]{16}@example\.test", to)
    row = receive(mails.reply("Bonjour, je conteste cette facture.", to=to,
                              sender="assistant@company.test")).message
    assert (row.customer_id, row.answers_message_id, row.tied_by) == (customer.id, message.id,
                                                                      "token")


def test_a_forged_token_is_refused_and_never_ties():
    victim = consumer(email="victim@example.test")
    message = sent_reminder(victim)
    forged = f"billing+r{message.id}-{'0' * 16}@example.test"
    guessed = f"<r{message.id}-{'a' * 16}.creditdesk@example.test>"
    row = receive(mails.reply("I paid already.", to=forged, in_reply_to=guessed,
                              sender="attacker@evil.test")).message
    assert row.token_refused and row.customer_id is None and row.status == "to_review"
    assert holds_of(victim.id) == []
    assert db.session.scalars(select(Message).where(Message.event == "reply_answer")).all() == []
    assert token_for(message.id) not in forged


def test_human_reply_pauses_the_next_reminder_and_auto_replies_never_do(dunning_defaults):
    person, away = consumer(email="p@example.test"), consumer(email="away@example.test")
    overdue(person, 30)
    overdue(away, 30)
    receive(mails.reply("Bonjour, je vous contacte au sujet de la facture.",
                        sender="p@example.test"))
    receive(mails.out_of_office_fr(sender="away@example.test"))
    receive(mails.out_of_office_nl_without_headers(sender="away@example.test"))
    db.session.commit()
    decisions = {d.customer.id: d for d in evaluate(today()).decisions}
    assert decisions[person.id].outcome == "excluded"
    assert "the customer replied by e-mail" in texts(decisions[person.id].reasons)
    assert decisions[away.id].outcome == "remind"
    assert holds_of(away.id) == []


def test_staff_letting_reminders_go_again_resumes_dunning(dunning_defaults, staff_client):
    customer = consumer(email="p@example.test")
    overdue(customer, 30)
    row = receive(mails.reply("J'ai déjà payé hier.", sender="p@example.test")).message
    db.session.commit()
    assert evaluate(today(), customer_ids=[customer.id]).decisions[0].outcome == "excluded"
    client = staff_client("AR clerk")
    response = client.post(f"/replies/{row.id}/release", data={"csrf_token": csrf_for(client)})
    assert response.status_code == 302
    assert evaluate(today(), customer_ids=[customer.id]).decisions[0].outcome == "remind"


def test_already_paid_gets_one_answer_in_the_customers_language_with_a_pay_link():
    customer = consumer(email="jan@example.test", language="nl")
    invoice = overdue(customer, 20)
    message = sent_reminder(customer)
    row = receive(mails.reply(f"Goedendag, factuur {invoice.number} is al betaald.",
                              sender="jan@example.test", in_reply_to=our_message_id(message))
                  ).message
    db.session.commit()
    assert row.category == "paid" and row.language == "nl"
    answer = row.answer
    assert answer is not None and answer.language == "nl" and answer.recipient == "jan@example.test"
    assert "al betaald" in answer.body_text and "/portal/p/" in answer.body_text
    # The pay link is the answer's own: the stored copy (staff screens, exports, timeline)
    # hides its token; what the customer receives carries the working link to this message.
    [token] = set(re.findall(r"/portal/p/([A-Za-z0-9_\-.]{20,})", received_text(answer)))
    assert token not in answer.body_text and "/portal/p/••••••" in answer.body_text
    resolved = paylinks.resolve(token)
    assert resolved.ok and resolved.link.message_id == answer.id
    assert resolved.link.invoice_ids == [invoice.id]
    [hold] = holds_of(customer.id)
    assert (hold.until - today()).days == 10  # the "already paid" wait, longer than 7
    # A second reply the same day gets no second answer (two mailers must not loop).
    again = receive(mails.reply("Ik heb al betaald, zie bijlage.",
                                sender="jan@example.test")).message
    db.session.commit()
    assert again.answer_id is None


def test_other_becomes_a_question_request_with_its_sla():
    customer = consumer(email="anna@example.test", language="en")
    row = receive(mails.reply(mails.EN_OTHER, sender="anna@example.test")).message
    db.session.commit()
    [req] = db.session.scalars(select(CustomerRequest)).all()
    assert row.request_id == req.id and req.kind == "question" and req.channel == "email"
    assert req.customer_id == customer.id and req.sla_due_at is not None
    assert "copy of the contract" in req.message


def test_a_bounce_marks_the_address_failing_and_shows_it_on_the_360_page(staff_client):
    customer = consumer(email="gone@example.test")
    message = sent_reminder(customer)
    row = receive(mails.bounce("gone@example.test", our_message_id(message))).message
    db.session.commit()
    assert row.kind == "bounce" and row.customer_id == customer.id and row.status == "ignored"
    [failing] = db.session.scalars(select(FailingAddress)).all()
    assert failing.address == "gone@example.test" and failing.customer_id == customer.id
    assert holds_of(customer.id) == [] and row.answer_id is None
    html = staff_client("Read-only").get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "gone@example.test" in html and "cd-failing-address" in html


def test_our_own_message_coming_back_is_a_loop_and_does_nothing():
    customer = consumer(email="c@example.test")
    message = sent_reminder(customer)
    echoed = mails.reply("Rappel", sender="billing@creditdesk-demo.example",
                         in_reply_to=our_message_id(message))
    row = receive(echoed).message
    db.session.commit()
    assert row.kind == "loop" and row.answer_id is None and row.hold_id is None
    assert holds_of(customer.id) == []


def test_reply_on_timeline_next_to_its_message_as_plain_text_and_in_my_work(staff_client):
    customer = consumer(email="c@example.test", language="fr")
    message = sent_reminder(customer)
    receive(mails.reply("", html="<p>Je conteste</p><script>alert('pwned')</script>"
                                 "<img src=x onerror=alert(2)>",
                        sender="c@example.test", in_reply_to=our_message_id(message)))
    db.session.commit()
    client = staff_client("AR clerk")
    html = client.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "cd-event-reply" in html and "Je conteste" in html
    assert "alert('pwned')" not in html and "onerror" not in html
    assert message.subject in html  # "In answer to: <the message's subject>"
    events = re.findall(r'class="cd-event cd-event-(\w+)"', html)
    # Newest first: the answer we sent, the reply, right above the message it answers.
    assert events == ["message", "reply", "message"]
    work = client.get("/mywork/").get_data(as_text=True)
    assert 'id="queue-replies"' in work and customer.name in work


def test_staff_correct_the_category_and_send_the_matching_answer(staff_client):
    consumer(email="c@example.test", language="fr")
    row = receive(mails.reply("Bonjour, j'ai une question sur la facture.",
                              sender="c@example.test")).message
    db.session.commit()
    assert row.category == "other"
    client = staff_client("AR clerk")
    page = client.get(f"/replies/{row.id}").get_data(as_text=True)
    assert "j&#39;ai une question" in page or "j'ai une question" in page
    response = client.post(f"/replies/{row.id}/category",
                           data={"category": "more_time", "send_answer": "y",
                                 "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    db.session.refresh(row)
    assert (row.category, row.category_by) == ("more_time", "staff")
    assert row.answer is not None and row.answer.language == "fr"
    assert "plan de paiement" in row.answer.body_text
    refused = client.post(f"/replies/{row.id}/category",
                          data={"category": "<script>", "csrf_token": csrf_for(client)})
    assert refused.status_code == 400 and "Choose one of the categories" in refused.get_data(
        as_text=True)


def test_unknown_sender_goes_to_review_and_staff_tie_it(staff_client):
    customer = consumer(email="known@example.test")
    row = receive(mails.reply("Hello, I need more time to pay.",
                              sender="stranger@elsewhere.test")).message
    db.session.commit()
    client = staff_client("AR clerk")
    listing = client.get("/replies/?status=to_review").get_data(as_text=True)
    assert "stranger@elsewhere.test" in listing
    bad = client.post(f"/replies/{row.id}/customer",
                      data={"customer_number": "NOPE", "csrf_token": csrf_for(client)})
    assert bad.status_code == 400
    ok = client.post(f"/replies/{row.id}/customer",
                     data={"customer_number": customer.number, "csrf_token": csrf_for(client)})
    assert ok.status_code == 302
    db.session.refresh(row)
    assert (row.customer_id, row.tied_by, row.status) == (customer.id, "staff", "to_read")
    assert holds_of(customer.id)


def test_simulated_reply_from_the_360_page_on_the_embedded_default(staff_client):
    customer = consumer(email="demo@example.test", language="fr")
    message = sent_reminder(customer)
    client = staff_client("AR clerk")
    page = client.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "c360-simulate" in page
    response = client.post(f"/replies/simulate/{customer.id}",
                           data={"reply_text": "Je voudrais un plan de paiement.",
                                 "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    [row] = db.session.scalars(select(InboundMessage)).all()
    assert (row.customer_id, row.answers_message_id, row.category) == (customer.id, message.id,
                                                                       "more_time")
    empty = client.post(f"/replies/simulate/{customer.id}",
                        data={"reply_text": " ", "csrf_token": csrf_for(client)})
    assert empty.status_code == 302 and len(db.session.scalars(select(InboundMessage)).all()) == 1
