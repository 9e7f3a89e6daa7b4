"""A template version used for a message is kept (check_deletable), on every path."""
from __future__ import annotations

import pytest

from app.core.validation import ValidationError
from app.extensions import db
from app.notifications.editing import check_deletable
from app.notifications.models import Message, MessageTemplate
from tests.helpers import csrf_for, make_customer


def _used_and_unused():
    used = MessageTemplate(key="reminder_friendly", channel="email", language="fr", version=1,
                           subject="Rappel", body_text="Bonjour")
    unused = MessageTemplate(key="reminder_friendly", channel="email", language="nl", version=1,
                             subject="Herinnering", body_text="Dag")
    db.session.add_all([used, unused, Message(
        customer=make_customer(), channel="email", recipient="a@example.test", language="fr",
        event="reminder", subject="Rappel", body_text="Bonjour", idempotency_key="k1",
        template=used)])
    db.session.commit()
    return used, unused


def test_check_deletable_refuses_a_version_that_was_sent():
    used, unused = _used_and_unused()
    with pytest.raises(ValidationError) as refused:
        check_deletable(used)
    assert "kept as their record" in str(refused.value.errors["template"][0])
    check_deletable(unused)


def test_the_delete_button_goes_through_the_rule(staff_client):
    used, unused = _used_and_unused()
    used_id, unused_id = used.id, unused.id
    client = staff_client("Admin")
    client.post(f"/messagetemplateview/delete/{used_id}", data={"csrf_token": csrf_for(client)})
    page = client.get("/messagetemplateview/list/").get_data(as_text=True)
    assert "kept as their record" in page
    client.post(f"/messagetemplateview/delete/{unused_id}",
                data={"csrf_token": csrf_for(client)})
    db.session.expire_all()
    assert db.session.get(MessageTemplate, used_id) is not None
    assert db.session.get(MessageTemplate, unused_id) is None
