"""Editing a dunning level with choices: channels as checkboxes, a template from the reminder
templates, the fee rule from a list, irrelevant fields ignored, bad input refused by field."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from app.dunning.models import DunningLevel
from app.extensions import db
from tests.dunning.conftest import level
from tests.helpers import csrf_for, csrf_token

pytestmark = pytest.mark.usefixtures("defaults")


def _form_data(item: DunningLevel, token: str, **changes) -> dict:
    data = {"policy": str(item.policy_id), "sequence": str(item.sequence), "name": item.name,
            "active": "y" if item.active else "", "days_after_due": str(item.days_after_due),
            "days_basis": item.days_basis,
            "min_days_since_previous": str(item.min_days_since_previous),
            "min_amount": str(item.min_amount), "tone": item.tone,
            "channels": [c for c in item.channels.split(",") if c],
            "template_key": item.template_key, "fee_rule": item.fee_rule,
            "fee_amount": str(item.fee_amount), "csrf_token": token}
    data.update(changes)
    if not data["active"]:
        del data["active"]
    return data


def _edit_page(client, item):
    page = client.get(f"/dunninglevelview/edit/{item.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, csrf_token(html)


def _reload(item_id: int) -> DunningLevel:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(DunningLevel, item_id)


def test_the_form_offers_checkboxes_reminder_templates_and_fee_rules(staff_client):
    item = level("Belgian consumers", 2)
    html, _token = _edit_page(staff_client("Credit manager"), item)
    boxes = {m.group(2): bool(m.group(1)) for m in re.finditer(
        r'<input (checked )?id="channels-\d"[^>]*type="checkbox" value="(\w+)"', html)}
    assert boxes == {"email": True, "sms": True, "letter": False, "webhook": False}
    assert 'selected value="dunning_firm"' in html or 'value="dunning_firm" selected' in html
    assert 'value="dunning_formal_notice"' in html and 'value="dunning_be_consumer_first"' in html
    # Templates of other events are not offered.
    assert 'value="payment_received"' not in html and 'value="request_received"' not in html
    assert 'value="be_consumer"' in html and 'value="fixed"' in html
    assert "dunning/level_form.js" in html
    assert "<script>" not in html.split("level_form.js")[0][-200:]


def test_saving_choices_stores_the_codes_and_ignores_irrelevant_fields(staff_client):
    item = level("Belgian consumers", 2)
    client = staff_client("Credit manager")
    _html, token = _edit_page(client, item)
    response = client.post(f"/dunninglevelview/edit/{item.id}", data=_form_data(
        item, token, channels=["email", "letter"], template_key="dunning_formal_notice",
        days_basis="previous", days_after_due="9", fee_rule="be_consumer", fee_amount="12.00"))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    saved = _reload(item.id)
    assert saved.channels == "email,letter" and saved.template_key == "dunning_formal_notice"
    assert saved.days_after_due == 0, "counted from the previous reminder: ignored"
    assert saved.fee_amount == Decimal("0.00"), "only a fixed fee has an amount"


@pytest.mark.parametrize("changes, field_message", [
    ({"channels": ["email", "pigeon"]}, "Unknown channel: pigeon"),
    ({"channels": []}, "Choose at least one channel."),
    ({"template_key": "payment_received"}, "is not a reminder template"),
    ({"template_key": "no_such_template"}, "is not a reminder template"),
    ({"min_days_since_previous": "-3"}, "Between 0 and 3650 days."),
    ({"days_basis": "due", "days_after_due": "-5"},
     "A negative number of days is only for the notice before the due date"),
    ({"fee_rule": "fixed", "fee_amount": "-4.00"}, "The amount cannot be negative."),
    ({"fee_rule": "pay_me_more"}, "Not a valid choice"),
])
def test_bad_input_is_refused_by_field_and_nothing_is_saved(staff_client, changes,
                                                            field_message):
    item = level("Belgian consumers", 2)
    before = (item.channels, item.template_key, item.min_days_since_previous,
              item.days_after_due, item.fee_rule, item.fee_amount)
    client = staff_client("Credit manager")
    _html, token = _edit_page(client, item)
    # Refused next to the field (form shown again), or by the last check before saving
    # (FAB's message on the next page): never saved, never a 500.
    response = client.post(f"/dunninglevelview/edit/{item.id}",
                           data=_form_data(item, token, **changes), follow_redirects=True)
    assert response.status_code == 200
    assert field_message.lower() in response.get_data(as_text=True).lower()
    saved = _reload(item.id)
    assert (saved.channels, saved.template_key, saved.min_days_since_previous,
            saved.days_after_due, saved.fee_rule, saved.fee_amount) == before


def test_a_pre_due_notice_may_count_negative_days(staff_client):
    item = level("Belgian consumers", 0)
    client = staff_client("Admin")
    _html, token = _edit_page(client, item)
    response = client.post(f"/dunninglevelview/edit/{item.id}",
                           data=_form_data(item, token, days_after_due="-5"))
    assert response.status_code == 302
    assert _reload(item.id).days_after_due == -5


@pytest.mark.parametrize("role", ["AR clerk", "Read-only"])
def test_who_cannot_configure_cannot_edit_a_level(staff_client, role):
    item = level("Belgian consumers", 2)
    client = staff_client(role)
    token = csrf_for(client)
    response = client.post(f"/dunninglevelview/edit/{item.id}",
                           data=_form_data(item, token, channels=["letter"]))
    assert response.status_code in (302, 403)
    assert _reload(item.id).channels == "email,sms"
