"""Reading a real IMAP mailbox (Dovecot): tied replies, restart mid-poll, mailbox down, bad mail."""
from __future__ import annotations

from sqlalchemy import func, select

from app.core.models import utcnow
from app.dunning.holds import holds_of
from app.extensions import db
from app.inbound.models import InboundMessage, MailboxState
from app.inbound.polling import poll, poll_mailboxes
from app.notifications.channels import message_id_for
from app.notifications.models import Message
from app.notifications.outbox import queue_message
from tests.helpers import make_customer, make_invoice
from tests.inbound import mails
from tests.inbound.conftest import configure_mailbox


def sent_reminder(customer) -> Message:
    """A message we sent the customer (as the SMTP channel would have: with its token)."""
    from app.notifications.defaults import install_defaults

    install_defaults()
    [message] = queue_message(customer, event="request_received",
                              template_key="request_received",
                              context={"request_number": "1", "request_kind": "question",
                                       "request_kind_label": "Question", "answer_by": None},
                              idempotency_key=f"test-sent:{customer.id}", channels=["email"])
    message.status, message.sent_at = "sent", utcnow()
    db.session.commit()
    return message


def rows():
    return db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()


def test_a_tokened_reply_is_read_once_tied_classified_and_moved(mailbox_plugin):
    customer = make_customer(language="fr", email="jean@example.test")
    message = sent_reminder(customer)
    our_id = message_id_for(message.idempotency_key, "example.test", message.id)
    mailbox_plugin.append(mails.reply(mails.OUTLOOK_FR_PAID, sender="other@elsewhere.test",
                                      in_reply_to=our_id,
                                      attachments=[("preuve.pdf", "pdf", mails.PDF)]))

    result = poll_mailboxes()

    assert result["imap_inbound"]["stored"] == 1
    [reply] = rows()
    assert (reply.customer_id, reply.answers_message_id, reply.tied_by) == (
        customer.id, message.id, "thread")
    assert reply.kind == "human" and reply.category == "paid" and reply.status == "to_read"
    assert [a.file_name for a in reply.attachments] == ["preuve.pdf"]
    assert holds_of(customer.id), "a human reply pauses the next reminder"
    assert mailbox_plugin.count("INBOX") == 0 and mailbox_plugin.count("Processed") == 1
    # Polling again reads nothing more.
    assert poll_mailboxes()["imap_inbound"]["stored"] == 0
    assert len(rows()) == 1
    state = db.session.get(MailboxState, "imap_inbound")
    assert state.last_error is None and state.messages_read == 1


def test_restart_mid_poll_reads_nothing_twice_and_loses_nothing(mailbox_plugin, monkeypatch):
    from app.core.plugins import build
    from app.inbound import polling

    customer = make_customer(email="els@example.test", language="nl")
    monkeypatch.setattr(polling, "BATCH", 3)
    mailbox_plugin.append_many(mails.reply(f"Bericht {n}: ik heb al betaald.",
                                           sender="els@example.test") for n in range(8))

    class Crash(Exception):
        pass

    mailbox = build("imap_inbound")
    put_aside = mailbox.put_aside
    calls = []

    def crash_before_second_move(uids):
        calls.append(uids)
        if len(calls) == 2:
            raise Crash("killed after the commit, before the move")
        put_aside(uids)

    mailbox.put_aside = crash_before_second_move
    first = poll(mailbox, "imap_inbound")
    assert "error" in first  # the poll stopped; 6 stored, 3 moved
    assert len(rows()) == 6 and mailbox_plugin.count("INBOX") == 5

    second = poll_mailboxes()["imap_inbound"]
    assert second["put_aside"] == 5 and second["stored"] == 2  # 3 known UIDs put aside unread
    assert len(rows()) == 8 and mailbox_plugin.count("INBOX") == 0
    assert len({r.text for r in rows()}) == 8
    assert [(r.customer_id, r.tied_by) for r in rows()] == [(customer.id, "sender")] * 8


def test_same_message_delivered_twice_or_after_uidvalidity_change_is_stored_once(
        mailbox_plugin):
    raw = mails.reply("Copy?", message_id="<same@example.test>")
    mailbox_plugin.append(raw)
    poll_mailboxes()
    mailbox_plugin.append(raw)  # the server delivered it again (new UID)
    db.session.execute(MailboxState.__table__.update().values(uid_validity=1))  # "rebuilt"
    db.session.commit()
    assert poll_mailboxes()["imap_inbound"]["already_stored"] == 1
    assert len(rows()) == 1


def test_flag_mode_leaves_messages_in_place_but_reads_them_once(mailbox_plugin):
    configure_mailbox(after_read="flag")
    mailbox_plugin.append(mails.reply("Hello, I have already paid this invoice."))
    assert poll_mailboxes()["imap_inbound"]["stored"] == 1
    assert poll_mailboxes()["imap_inbound"] == {"stored": 0, "already_stored": 0,
                                                "put_aside": 0}
    assert mailbox_plugin.count("INBOX") == 1 and len(rows()) == 1


def test_mailbox_down_or_wrong_password_is_recorded_and_nothing_is_lost(mailbox_plugin,
                                                                         monkeypatch):
    mailbox_plugin.append(mails.reply("Hello"))
    monkeypatch.setenv("CREDITDESK_PLUGIN_IMAP_INBOUND_PASSWORD", "wrong")
    result = poll_mailboxes()["imap_inbound"]
    assert "error" in result
    [state] = db.session.scalars(select(MailboxState)).all()
    assert state.last_error and state.last_success_at is None
    configure_mailbox(port=1)  # nothing listens there
    assert "error" in poll_mailboxes()["imap_inbound"]
    assert rows() == [] and mailbox_plugin.count("INBOX") == 1
    monkeypatch.setenv("CREDITDESK_PLUGIN_IMAP_INBOUND_PASSWORD", "s3cret-imap")
    configure_mailbox(port=mailbox_plugin.port)
    assert poll_mailboxes()["imap_inbound"]["stored"] == 1
    db.session.refresh(state)
    assert state.last_error is None and state.last_success_at is not None


def test_bad_mail_of_every_kind_is_kept_without_a_crash(mailbox_plugin):
    customer = make_customer(email="mark@example.test", language="en")
    invoice = make_invoice(customer)
    mailbox_plugin.append_many([
        (b"Subject: broken\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
         b"Content-Type: text/plain; charset=bogus\r\n\r\nI paid \xff\xfe already\r\n"),
        mails.reply("<script>alert(1)</script> see attachment", sender="mark@example.test",
                    attachments=[("invoice.pdf", "octet-stream", b"<html><script>x</script>"),
                                 ("photo.png", "pdf", mails.PDF)]),
        mails.reply(f"About invoice {invoice.number}: I dispute it, never received it.",
                    sender="unknown@nowhere.test"),
        mails.reply("Bonjour", sender="nobody@nowhere.test"),
        mails.reply("x" * (3 * 1024 * 1024), sender="mark@example.test"),
    ])
    configure_mailbox()
    from app.core.settings import set_setting

    set_setting("inbound.max_message_mb", 1)
    db.session.commit()
    assert poll_mailboxes()["imap_inbound"]["stored"] == 5
    broken, scripted, by_reference, unknown, huge = rows()
    assert broken.status == "to_review" and "paid" in broken.full_text
    assert scripted.customer_id == customer.id
    kept = {a.file_name: a for a in scripted.attachments}
    assert kept["invoice.pdf"].storage_path is None and kept["invoice.pdf"].refusal
    assert kept["photo.pdf"].content_type == "application/pdf"  # its real type, renamed
    assert (by_reference.customer_id, by_reference.tied_by) == (customer.id, "reference")
    assert by_reference.category == "dispute"
    assert unknown.customer_id is None and unknown.status == "to_review"
    assert "too_large" in huge.notes and huge.attachments == []
    assert mailbox_plugin.count("INBOX") == 0
    assert db.session.scalar(select(func.count(InboundMessage.id))) == 5


def test_no_mailbox_configured_polls_nothing(app):
    from tests.inbound.conftest import register_plugin

    register_plugin()
    assert poll_mailboxes() == {}
