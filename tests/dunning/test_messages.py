"""What customers read: the legally required wording, in French, Dutch and English."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.core.i18n import day as format_day
from app.core.i18n import language_locale, money
from app.core.settings import set_setting
from app.dunning.defaults import TEMPLATES_DIR
from app.dunning.engine import evaluate
from app.dunning.fees import be_consumer_lump_sum, nl_collection_costs
from app.dunning.messages import message_context
from app.dunning.runs import run
from app.dunning.snapshot import invoice_details
from app.extensions import db
from app.notifications.defaults import load_defaults
from app.notifications.models import Message
from app.notifications.rendering import render_source
from tests.dunning.conftest import consumer, day, overdue, remind_state, today

pytestmark = pytest.mark.usefixtures("defaults")

FIRST_REMINDER_WORDING = {
    "fr": ["Ce premier rappel est gratuit", "14 jours calendrier", "indemnité forfaitaire",
           "Numéro d'entreprise", "livre XIX du Code de droit économique"],
    "nl": ["Deze eerste herinnering is gratis", "14 kalenderdagen",
           "forfaitaire schadevergoeding", "Ondernemingsnummer",
           "boek XIX van het Wetboek van economisch recht"],
    "en": ["This first reminder is free of charge", "14 calendar days", "lump-sum damages",
           "Enterprise number", "Book XIX of the Code of Economic Law"],
}


def _formatted(language, value):
    with force_locale(language_locale(language)):
        return money(value) if isinstance(value, D) else format_day(value)


def _messages(customer):
    return db.session.scalars(select(Message).where(Message.customer_id == customer.id)
                              .order_by(Message.channel)).all()


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_belgian_consumer_first_reminder_has_the_mandatory_content(language):
    customer = consumer(language=language)
    invoice = overdue(customer, 10, total="420.00", description="Abonnement fibre - mars")
    run(today())
    [message] = _messages(customer)
    text = message.body_text
    assert message.template.key == "dunning_be_consumer_first"
    assert message.language == language
    for wording in FIRST_REMINDER_WORDING[language]:
        assert wording in text, wording
    assert _formatted(language, D("420.00")) in text                     # the amount due
    assert _formatted(language, be_consumer_lump_sum(D("420.00"))) in text  # damages if unpaid
    assert "CreditDesk Demo SA" in text and "0123.456.749" in text     # creditor, enterprise no.
    assert "Abonnement fibre - mars" in text                           # the service ...
    assert _formatted(language, invoice.due_date) in text              # ... and its due date
    assert _formatted(language, day(15)) in text                       # the 14-day deadline
    assert "+++" in text and "BE04 0682 4613 7931" in text             # how to pay


FORMAL_NOTICE = {"fr": "mettons formellement en demeure", "nl": "formeel in gebreke",
                 "en": "formal notice"}


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_formal_notice_goes_by_email_and_letter_with_fees(language):
    customer = consumer(language=language)
    invoice = overdue(customer, 60, total="300.00")
    remind_state(invoice, level=2, reminded_days_ago=20)
    run(today())
    messages = _messages(customer)
    assert [m.channel for m in messages] == ["email", "letter"]
    assert "Rue Haute 1" in messages[1].recipient
    for message in messages:
        assert message.template.key == "dunning_formal_notice"
        assert FORMAL_NOTICE[language] in message.body_text
        assert _formatted(language, be_consumer_lump_sum(D("300.00"))) in message.body_text
    # A letter counts from the 3rd working day after posting: its deadline is later.
    assert messages[0].body_text != messages[1].body_text


def test_dutch_consumers_get_the_fourteen_day_letter_with_the_costs():
    customer = consumer(language="nl", country="NL", address_line1="Dorpsstraat 3",
                        postal_code="3511 AZ", city="Utrecht")
    invoice = overdue(customer, 30, total="500.00")
    remind_state(invoice, level=1, reminded_days_ago=10)
    run(today())
    email = _messages(customer)[0]
    assert email.template.key == "dunning_nl_consumer_14_day"
    assert "binnen 14 dagen" in email.body_text
    assert _formatted("nl", nl_collection_costs(D("500.00"))) in email.body_text  # € 75,00


def test_sms_waits_for_the_end_of_the_quiet_hours():
    from app.core.time import BUSINESS_TZ

    # Quiet from an hour ago until two hours from now, Brussels time, whatever the hour the
    # test runs (a fixed "00:00-23:59" ended a minute after a run at 23:58).
    here = datetime.now(BUSINESS_TZ)
    window = f"{(here - timedelta(hours=1)):%H:%M}-{(here + timedelta(hours=2)):%H:%M}"
    set_setting("dunning.sms_quiet_hours", window)
    db.session.commit()
    customer = consumer(sms_reminders=True, phone="+32470000000")
    overdue(customer, 10)
    run(today())
    by_channel = {m.channel: m for m in _messages(customer)}
    assert set(by_channel) == {"email", "sms"}
    now = datetime.now(UTC)
    assert by_channel["sms"].next_attempt_at > now + timedelta(minutes=1)
    assert by_channel["sms"].status == "queued"
    assert len(by_channel["sms"].body_text) < 320


def test_every_default_template_renders_in_every_language():
    customer = consumer()
    invoice = overdue(customer, 60, total="300.00")
    remind_state(invoice, level=1, reminded_days_ago=20)
    overdue(customer, 10, total="45.50", description="Entretien")
    [decision] = evaluate(today(), customer_ids=[customer.id]).decisions
    from app.notifications.context import base_context

    details = invoice_details([i.invoice.id for i in decision.listed])
    defaults = load_defaults(TEMPLATES_DIR)
    assert len(defaults) == 7 * 3 * 3  # seven messages x e-mail, letter, SMS x fr, nl, en
    for default in defaults:
        where = (default.key, default.channel, default.language)
        links = {"pay": "https://pay", "plan": "https://plan"}
        context = {**message_context(decision, today(), default.channel, links, default.language,
                                     details), **base_context(customer)}
        subject, text, html = render_source(default.subject, default.body_text,
                                            default.body_html, default.language, context)
        assert (invoice.number in text or default.channel == "sms"), where
        assert "CreditDesk Demo SA" in text, where
        assert "{{" not in text and "None" not in text, where
        # A link followed by punctuation would carry it into the address mail clients open.
        assert not re.search(r"https://(pay|plan)[^\s]", text), where
        assert (subject is None) == (default.channel == "sms"), where
        assert (html is not None) == (default.channel == "email"), where


def test_sample_context_previews_every_dunning_template():
    from app.dunning.messages import sample_context
    from app.notifications.context import base_context

    customer = consumer(language="nl")
    context = {**sample_context(customer), **base_context(customer)}
    for default in load_defaults(TEMPLATES_DIR):
        _subject, text, _html = render_source(default.subject, default.body_text,
                                              default.body_html, default.language, context)
        assert "CreditDesk Demo SA" in text


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_reminder_links_open_the_pay_page_and_the_payment_plan_page(app, language):
    from app.core import portal_access
    from app.core.portal_access import PortalAccess
    from tests.notifications.deeplinks import DEEP_LINK, open_after_verification

    customer = consumer(language=language, email=f"plan.{language}@example.test")
    overdue(customer, 10, total="420.00")
    run(today())
    [message] = _messages(customer)
    adapter = app.url_map.bind("localhost")
    opened = {}
    for path in DEEP_LINK.findall(message.body_text):
        access = db.session.scalar(select(PortalAccess).where(
            PortalAccess.token_hash == portal_access.hash_token(path.rsplit("/", 1)[1])))
        assert access is not None and access.customer_id == customer.id
        opened[adapter.match(access.target)[0]] = path
    # Paying is the reminder's pay link, which needs no sign-in (tests/paylinks/test_messages.py).
    assert set(opened) == {"portal.plan_wizard"}
    assert "/portal/p/••••••" in message.body_text  # stored with its token hidden
    # The customer follows the payment plan link: after verification, the plan wizard opens.
    landing = open_after_verification(app, "http://x" + opened["portal.plan_wizard"],
                                      customer.email)
    assert adapter.match(landing)[0] == "portal.plan_wizard"
