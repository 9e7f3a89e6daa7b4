"""The requests core after opening: decisions and their handlers, closing, the conversation,
the satisfaction survey, and what one customer may see."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.core.models import utcnow
from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.notifications.models import Message
from app.requests import services
from app.requests.models import CustomerRequest, RequestComment
from tests.helpers import make_customer, make_staff_user

pytestmark = pytest.mark.usefixtures("message_templates")


def _messages(event: str) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.event == event)))


def _question(customer=None, **fields) -> CustomerRequest:
    customer = customer or make_customer(language="nl")
    req = services.open_request(customer, "question", subject="Waar is mijn factuur?",
                                message="Ik vind ze niet.", **fields)
    db.session.commit()
    return req


def test_open_request_takes_the_sla_from_the_setting_for_its_kind(app):
    set_setting("requests.sla_hours.question", 10)
    db.session.commit()
    before = utcnow()
    req = _question()
    assert req.status == "received"
    assert before + timedelta(hours=10) <= req.sla_due_at <= utcnow() + timedelta(hours=10)
    assert [m.channel for m in _messages("request_received")] == ["email"]


def test_decide_calls_the_kinds_handler_and_a_refusal_changes_nothing(app):
    staff = make_staff_user(app, "AR clerk")
    calls = []

    def handler(req, approved, user):
        calls.append((req.id, approved, user.id))
        if not approved:
            raise ValidationError({"kind": "refused by the handler"})

    saved = dict(services._DECISION_HANDLERS)
    services.register_decision_handler("question", handler)
    try:
        req = _question()
        with pytest.raises(ValidationError):
            services.decide_request(req, staff, False, "no")
        db.session.rollback()
        db.session.refresh(req)
        assert req.status == "received" and req.decided_at is None

        services.decide_request(req, staff, True, "  Done, see attachment.  ")
        db.session.commit()
    finally:
        services._DECISION_HANDLERS.clear()
        services._DECISION_HANDLERS.update(saved)
    assert calls == [(req.id, False, staff.id), (req.id, True, staff.id)]
    assert req.status == "approved"
    assert req.decision_note == "Done, see attachment."
    assert req.decided_by_id == staff.id and req.decided_at is not None
    assert len(_messages("request_decided")) >= 1
    with pytest.raises(ValidationError):
        services.decide_request(req, staff, False, "again")


def test_a_kind_without_handler_just_records_the_decision(app):
    staff = make_staff_user(app, "Credit manager")
    customer = make_customer()
    req = services.open_request(customer, "preferences", subject="x")
    db.session.commit()
    services._DECISION_HANDLERS.pop("preferences", None)
    services.decide_request(req, staff, False, "Non.")
    db.session.commit()
    assert req.status == "rejected" and req.decision_note == "Non."


def test_close_and_cancel(app):
    staff = make_staff_user(app, "Admin")
    answered = _question()
    services.close_request(answered, staff)
    db.session.commit()
    assert answered.status == "closed" and answered.decided_by_id == staff.id
    with pytest.raises(ValidationError):
        services.close_request(answered, staff)
    with pytest.raises(ValidationError):
        services.cancel_request(answered)

    withdrawn = _question()
    services.cancel_request(withdrawn)
    db.session.commit()
    assert withdrawn.status == "cancelled"


def test_a_staff_reply_is_mailed_to_the_customer_in_their_language(app):
    staff = make_staff_user(app, "AR clerk")
    req = _question()
    comment = services.add_comment(req, "Uw factuur staat in de bijlage.", author="staff",
                                   user=staff)
    db.session.commit()
    assert comment.user_id == staff.id and comment.author == "staff"
    assert req.status == "in_review"
    [message] = _messages("request_comment")
    assert message.language == "nl"
    assert "Uw factuur staat in de bijlage." in message.body_text
    assert message.subject.startswith("Een bericht over uw aanvraag nr.")
    assert "/portal/go/" in message.body_text  # a link that opens this request after sign-in


def test_customer_comments_send_nothing_and_are_refused_once_closed(app):
    req = _question()
    services.add_comment(req, "Nog een vraag", author="customer")
    db.session.commit()
    assert _messages("request_comment") == []
    assert [c.author for c in req.comments] == ["customer"]
    with pytest.raises(ValidationError):
        services.add_comment(req, "   ", author="customer")
    services.close_request(req)
    db.session.commit()
    with pytest.raises(ValidationError):
        services.add_comment(req, "Still there?", author="customer")
    assert db.session.scalar(select(func.count(RequestComment.id))) == 1


def test_satisfaction_only_once_only_answered_only_0_to_10(app):
    staff = make_staff_user(app, "AR clerk")
    req = _question()
    with pytest.raises(ValidationError) as refused:
        services.record_satisfaction(req, 9, None)
    assert "score" in refused.value.errors
    services.decide_request(req, staff, True, None)
    db.session.commit()
    for bad in (-1, 11, "abc", "", None, "7.5"):
        with pytest.raises(ValidationError):
            services.record_satisfaction(req, bad, "x")
    assert req.satisfaction_score is None
    services.record_satisfaction(req, "0", "  Too slow  ")
    db.session.commit()
    assert (req.satisfaction_score, req.satisfaction_comment) == (0, "Too slow")
    assert req.satisfaction_at is not None
    with pytest.raises(ValidationError):
        services.record_satisfaction(req, 10, None)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).satisfaction_score == 0


def test_a_second_answer_racing_the_first_records_nothing(app):
    """Two answers read the request before either was saved: the second is refused."""
    staff = make_staff_user(app, "AR clerk")
    req = _question()
    services.close_request(req, staff)
    db.session.commit()
    assert req.satisfaction_score is None  # what this (second) request has read
    # Meanwhile the first answer is saved by another request, behind this session's back.
    db.session.execute(update(CustomerRequest).where(CustomerRequest.id == req.id)
                       .values(satisfaction_score=8)
                       .execution_options(synchronize_session=False))
    assert req.satisfaction_score is None
    with pytest.raises(ValidationError):
        services.record_satisfaction(req, 2, "late")
    db.session.commit()
    db.session.expire_all()
    saved = db.session.get(CustomerRequest, req.id)
    assert (saved.satisfaction_score, saved.satisfaction_comment) == (8, None)


def test_may_rate_follows_the_setting(app):
    req = _question()
    services.close_request(req)
    db.session.commit()
    assert services.may_rate(req)
    set_setting("requests.satisfaction_survey", False)
    db.session.commit()
    assert not services.may_rate(req)


def test_requests_of_and_request_of_are_scoped_to_the_customer(app):
    mine = make_customer()
    other = make_customer()
    my_request = _question(mine)
    their_request = _question(other)
    assert [r.id for r in services.requests_of(mine.id)] == [my_request.id]
    assert services.request_of(mine.id, their_request.id) is None
    assert services.request_of(mine.id, my_request.id).id == my_request.id


def test_assign_to_me(app):
    staff = make_staff_user(app, "AR clerk")
    req = _question()
    services.assign_request(req, staff)
    db.session.commit()
    assert req.assignee_id == staff.id and req.status == "in_review"


def test_the_reply_template_renders_in_every_language(app):
    from app.notifications.events import preview_context
    from app.notifications.rendering import render

    customer = make_customer(name="Marie Dupont")
    subjects = set()
    for language in ("fr", "nl", "en"):
        context = preview_context("request_comment", customer)
        rendered = render("request_comment", "email", language, context)
        assert "Marie Dupont" in rendered.text
        # The sample reply is written in the template's language (events.py samples).
        assert context["comment_text"] in rendered.text
        assert "{{" not in rendered.text and "<p>" in rendered.html
        subjects.add(rendered.subject)
    assert len(subjects) == 3
