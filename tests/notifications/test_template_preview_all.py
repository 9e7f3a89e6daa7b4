"""Every shipped template previews, over HTTP as staff, in every language and channel.

The live preview renders with the event's sample values (app.notifications.events); before,
63 of the 225 shipped templates (reminders, risk proposal) failed and six answered 500.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.dunning.defaults import TEMPLATES_DIR
from app.dunning.defaults import install_templates as install_dunning_templates
from app.extensions import db
from app.notifications.defaults import load_defaults
from app.notifications.models import MessageTemplate
from tests.helpers import csrf_token, make_customer

ERROR_MARKERS = ("Template error", "Traceback", "is undefined", "Undefined", "{{", "{%")


@pytest.fixture
def shipped(defaults):
    install_dunning_templates()
    db.session.commit()
    return db.session.scalars(select(MessageTemplate).order_by(MessageTemplate.id)).all()


def test_every_shipped_template_is_installed(shipped):
    expected = {(d.key, d.channel, d.language)
                for d in load_defaults() + load_defaults(TEMPLATES_DIR)}
    assert {(t.key, t.channel, t.language) for t in shipped} == expected
    assert len(expected) >= 225


def test_every_shipped_template_previews_over_http(shipped, staff_client):
    client = staff_client("Credit manager")
    token = csrf_token(client.get("/messagetemplateview/add").get_data(as_text=True))
    failures = []
    for template in shipped:
        response = client.post("/messagetemplateview/preview", data={
            "csrf_token": token, "template_id": str(template.id),
            "subject": template.subject or "", "body_text": template.body_text,
            "body_html": template.body_html or ""})
        label = f"{template.key}/{template.channel}/{template.language}"
        if response.status_code != 200:
            failures.append((label, response.status_code))
            continue
        result = response.get_json()
        shown = " ".join(str(result.get(k) or "") for k in ("subject", "text", "html"))
        if result.get("error") or not result.get("text", "").strip() or any(
                marker in shown for marker in ERROR_MARKERS):
            failures.append((label, result.get("error") or shown[:200]))
            continue
        # the preview is in the template's language and channel
        assert result["variables"], label
        if template.channel == "email":
            assert result["subject"] and result["html"], label
        else:
            assert result["html"] is None, label
        if template.channel == "sms":
            assert result["subject"] is None, label
    assert not failures, failures


def test_every_saved_version_preview_page_renders(shipped, staff_client):
    client = staff_client("Credit manager")
    failures = []
    for template in shipped:
        response = client.get(f"/messagetemplateview/preview/{template.id}")
        page = response.get_data(as_text=True)
        if response.status_code != 200 or 'id="preview-error"' in page:
            failures.append((template.key, template.channel, template.language,
                             response.status_code))
    assert not failures, failures


def test_preview_in_the_templates_language_on_a_real_customer(shipped, staff_client):
    make_customer(number="C-PREVIEW", name="Nora Janssens", language="nl")
    client = staff_client("Credit manager")
    token = csrf_token(client.get("/messagetemplateview/add").get_data(as_text=True))
    for language, word in (("fr", "déc"), ("nl", "dec"), ("en", "Dec")):
        result = client.post("/messagetemplateview/preview", data={
            "csrf_token": token, "key": "dunning_reminder", "channel": "email",
            "language": language, "customer": "C-PREVIEW",
            "body_text": "{{ customer.name }} {{ total_due|money }} "
                         "{{ deadline|date('long') }} {{ invoices|length }}"}).get_json()
        assert "error" not in result, result
        assert result["text"].startswith("Nora Janssens")
        assert result["customer"] == "C-PREVIEW Nora Janssens"
    fr = client.post("/messagetemplateview/preview", data={
        "csrf_token": token, "key": "dunning_reminder", "channel": "email", "language": "fr",
        "body_text": "{{ total_due|money }}"}).get_json()
    assert fr["text"].strip() == "125,00\xa0€"  # sample values, French formatting
    assert {v["name"] for v in fr["variables"]} >= {"total_due", "deadline", "invoice_count"}


def test_the_editor_lists_the_events_variables(shipped, staff_client):
    client = staff_client("Credit manager")
    template = next(t for t in shipped if t.key == "risk_proposal" and t.channel == "email")
    page = client.get(f"/messagetemplateview/edit/{template.id}").get_data(as_text=True)
    assert 'id="template-variables"' in page
    for name in ("propose_due_date", "propose_direct_debit", "propose_plan", "customer"):
        assert f"<code>{name}</code>" in page
