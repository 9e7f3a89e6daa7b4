"""Default templates: complete in French, Dutch and English, render for every event."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.notifications.defaults import EMAIL_ONLY, install_defaults, load_defaults
from app.notifications.events import preview_context
from app.notifications.models import MessageTemplate
from app.notifications.rendering import render
from tests.helpers import make_customer

EVENTS = ("payment_received", "account_settled", "request_received", "request_decided",
          "deferral_approved", "plan_approved", "instalment_due", "promise_broken", "plan_broken",
          "mandate_active", "email_change_confirmation", "magic_link", "contract_renewal",
          "payment_returned", "refund_account_changed")


def test_every_event_has_every_language_and_channel():
    found = {(d.key, d.channel, d.language) for d in load_defaults()}
    for key in EVENTS:
        channels = ("email",) if key in EMAIL_ONLY else ("email", "letter", "sms")
        for channel in channels:
            for language in ("fr", "nl", "en"):
                assert (key, channel, language) in found, (key, channel, language)


@pytest.mark.parametrize("key", EVENTS)
def test_every_default_renders_in_every_language(app, defaults, key):
    customer = make_customer(name="Marie Dupont")
    for template in db.session.scalars(select(MessageTemplate).where(MessageTemplate.key == key)):
        rendered = render(key, template.channel, template.language, preview_context(key, customer))
        assert "Marie Dupont" in rendered.text or template.channel == "sms"
        assert "{{" not in rendered.text and "{%" not in rendered.text
        if template.channel == "email":
            assert rendered.subject and "Marie Dupont" in rendered.html
            assert "<p>" in rendered.html
        if template.channel == "sms":
            assert len(rendered.text) <= 320, rendered.text  # two SMS parts at most


def test_every_sms_has_room_for_a_real_deep_link(app, defaults):
    """A real portal link (/portal/go/ and a 43-character token) still fits in two SMS parts."""
    from app.notifications.context import public_url

    customer = make_customer(name="Marie-Christine Van den Bossche")
    link = public_url("/portal/go/" + "x" * 43)
    for template in db.session.scalars(select(MessageTemplate).where(
            MessageTemplate.channel == "sms", MessageTemplate.key.in_(EVENTS))):
        context = {**preview_context(template.key, customer), "portal_url": link}
        text = render(template.key, "sms", template.language, context).text
        assert len(text) <= 320, (template.key, template.language, text)


def test_wording_follows_the_language(app, defaults):
    customer = make_customer(name="Jan Peeters", language="nl")
    context = preview_context("payment_received", customer)
    assert render("payment_received", "email", "nl", context).subject.startswith(
        "Bedankt voor uw betaling")
    assert render("payment_received", "email", "fr", context).subject.startswith(
        "Merci pour votre paiement")
    text = render("payment_received", "email", "fr", context).text
    assert "125,00\xa0€" in text or "125,00 €" in text  # Belgian French money format


def test_install_is_idempotent_and_keeps_staff_versions(app, defaults):
    count = db.session.scalar(select(func.count(MessageTemplate.id)))
    assert install_defaults() == 0
    assert db.session.scalar(select(func.count(MessageTemplate.id))) == count

    from tests.helpers import make_staff_user

    staff = make_staff_user(app, "Admin")
    edited = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.key == "payment_received", MessageTemplate.channel == "email",
        MessageTemplate.language == "fr"))
    db.session.add(MessageTemplate(key=edited.key, channel="email", language="fr", version=2,
                                   subject="Merci !", body_text="Merci {{ customer.name }}",
                                   created_by_id=staff.id))
    db.session.commit()
    assert install_defaults() == 0
    newest = render("payment_received", "email", "fr",
                    preview_context("payment_received", make_customer()))
    assert newest.subject == "Merci !"


def test_changed_default_wording_becomes_a_new_version(app, defaults):
    row = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.key == "account_settled", MessageTemplate.channel == "sms",
        MessageTemplate.language == "en"))
    row.body_text = "old wording"
    db.session.commit()
    assert install_defaults() == 1
    versions = db.session.scalars(select(MessageTemplate.version).where(
        MessageTemplate.key == "account_settled", MessageTemplate.channel == "sms",
        MessageTemplate.language == "en")).all()
    assert sorted(versions) == [1, 2]
