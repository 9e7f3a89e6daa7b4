"""A poll reads a batch of replies set-wise, with the same outcome as reading them one by one;
a batch that fails is read again one by one, and the message that broke it costs only itself."""
from __future__ import annotations

from sqlalchemy import event, select

from app.dunning.holds import ReminderHold
from app.extensions import db
from app.inbound import receiving
from app.inbound.models import InboundMessage
from app.inbound.receiving import Incoming, receive, receive_many
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from tests.dunning.conftest import consumer, overdue
from tests.inbound import mails
from tests.inbound.test_polling import sent_reminder
from tests.inbound.test_replies_flow import our_message_id


def replies_for_two_customers():
    marie = consumer(email="marie@example.test", language="fr")
    jan = consumer(email="jan@example.test", language="nl")
    invoice = overdue(marie, 20)
    message = sent_reminder(jan)
    return marie, jan, [
        mails.reply(f"Bonjour, la facture {invoice.number} a déjà été payée.",
                    sender="marie@example.test", message_id="<b1@example.test>"),
        mails.reply("Ik betwist deze factuur.", sender="jan@example.test",
                    in_reply_to=our_message_id(message), message_id="<b2@example.test>"),
        mails.reply("Bonjour, pouvez-vous m'envoyer une copie du contrat ?",
                    sender="marie@example.test", message_id="<b3@example.test>"),
        mails.out_of_office_fr(sender="jan@example.test"),
        mails.reply(f"Facture {invoice.number} payée, merci.", sender="nobody@elsewhere.test",
                    message_id="<b4@example.test>"),
        mails.reply("Doublon", sender="marie@example.test", message_id="<b1@example.test>"),
    ]


def outcome() -> list[tuple]:
    rows = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    return [(r.customer_id, r.tied_by, r.kind, r.category, r.status, r.hold_id is not None,
             r.answer_id is not None, r.request_id is not None) for r in rows]


def counts() -> tuple[int, int, int]:
    return (len(db.session.scalars(select(ReminderHold)).all()),
            len(db.session.scalars(select(Message).where(Message.event == "reply_answer")).all()),
            len(db.session.scalars(select(CustomerRequest)).all()))


def test_a_batch_gives_what_one_by_one_gives_with_fewer_statements(app):
    _marie, _jan, raws = replies_for_two_customers()
    statements = []
    listener = lambda *args, **kwargs: statements.append(1)
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        results = receive_many([Incoming(n, raw) for n, raw in enumerate(raws, start=1)],
                               mailbox="batch")
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    batch, batch_counts, batch_statements = outcome(), counts(), len(statements)
    assert [r.created for r in results] == [True] * 5 + [False]  # the duplicate folds
    assert results[5].message.id == results[0].message.id

    # The same replies one by one, after the batch's rows are gone.
    for model in (InboundMessage, ReminderHold, CustomerRequest):
        db.session.execute(model.__table__.delete())
    db.session.execute(Message.__table__.delete().where(Message.event != "request_received"))
    db.session.commit()
    statements.clear()
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for raw in raws:
            receive(raw)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert outcome() == batch and counts() == batch_counts
    assert batch_counts[0] == 4 and batch_counts[2] >= 1  # 4 human replies tied, a question
    assert batch_statements < len(statements)


def test_a_failing_batch_is_read_one_by_one_and_loses_nothing(app, monkeypatch):
    _marie, _jan, raws = replies_for_two_customers()
    from app.inbound import actions

    calls = []

    def broken(items, customers=None):
        calls.append(len(items))
        raise RuntimeError("something in the batch is wrong")

    monkeypatch.setattr(actions, "act_on_many", broken)
    results = receive_many([Incoming(n, raw) for n, raw in enumerate(raws, start=1)],
                           mailbox="batch")
    db.session.commit()
    assert calls == [5]
    assert [r.created for r in results] == [True] * 5 + [False]
    assert len(outcome()) == 5 and counts()[0] == 4  # acted on, one by one


def test_one_unreadable_message_in_a_batch_costs_only_itself(app, monkeypatch):
    _marie, _jan, raws = replies_for_two_customers()
    real_parse = receiving.parse

    def parse(raw):
        if b"<b2@example.test>" in raw:
            raise ValueError("broken MIME")
        return real_parse(raw)

    monkeypatch.setattr(receiving, "parse", parse)
    receive_many([Incoming(n, raw) for n, raw in enumerate(raws, start=1)], mailbox="batch")
    db.session.commit()
    rows = outcome()
    assert len(rows) == 5, rows
    assert sum(1 for r in rows if r[4] == "to_review" and r[0] is None) >= 1, rows
    assert counts()[0] == 3  # the other human replies still pause


def test_the_questions_of_a_batch_are_opened_together_each_acknowledged_with_its_link(app):
    from datetime import timedelta

    from app.core.portal_access import PortalAccess
    from app.core.settings import set_setting

    set_setting("requests.sla_hours.question", "30")
    db.session.commit()
    people = [consumer(email=f"q{n}@example.test", language=lang)
              for n, lang in enumerate(("fr", "nl", "en"))]
    raws = [mails.reply(mails.EN_OTHER, sender=person.email, message_id=f"<q{n}@example.test>")
            for n, person in enumerate(people)]
    receive_many([Incoming(n, raw) for n, raw in enumerate(raws, start=1)], mailbox="batch")
    db.session.commit()
    replies = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    requests = db.session.scalars(select(CustomerRequest).order_by(CustomerRequest.id)).all()
    assert [r.request_id for r in replies] == [r.id for r in requests]
    assert [r.customer_id for r in requests] == [p.id for p in people]
    for req in requests:
        assert req.kind == "question" and req.channel == "email"
        assert abs(req.sla_due_at - req.created_at - timedelta(hours=30)) < timedelta(minutes=1)
    acknowledged = db.session.scalars(select(Message).where(
        Message.event == "request_received").order_by(Message.id)).all()
    assert [m.idempotency_key for m in acknowledged] == [
        f"request-received:{req.id}:email" for req in requests]
    links = db.session.scalars(select(PortalAccess).where(PortalAccess.kind == "deep_link")
                               .order_by(PortalAccess.id)).all()
    assert [(a.customer_id, a.target) for a in links] == [
        (req.customer_id, f"/portal/requests/{req.id}") for req in requests]
