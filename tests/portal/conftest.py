"""Portal test fixtures: a signed-in customer's client, the magic_link template, fresh limits."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.notifications.models import Message, MessageTemplate
from tests.notifications.received import received_text


@pytest.fixture(autouse=True)
def _fresh_portal_state(app, _clean_database):
    from app.portal.auth import reset_rate_limits
    from app.portal.routes import forget_cached_company

    reset_rate_limits()
    forget_cached_company()
    yield
    reset_rate_limits()


MAGIC_LINK_BODY = {
    "en": ("Your sign-in link",
           "Hello {{ customer.contact_name }}, sign in: {{ login_url }} ({{ valid_minutes }} minutes)"),
    "fr": ("Votre lien de connexion",
           "Bonjour {{ customer.contact_name }}, connexion : {{ login_url }} ({{ valid_minutes }} min)"),
    "nl": ("Uw aanmeldlink",
           "Dag {{ customer.contact_name }}, aanmelden: {{ login_url }} ({{ valid_minutes }} minuten)"),
}


def install_magic_link_templates() -> None:
    """The "magic_link" templates, unless the notification defaults are already installed."""
    for language, (subject, body) in MAGIC_LINK_BODY.items():
        exists = db.session.query(MessageTemplate).filter_by(
            key="magic_link", channel="email", language=language).first()
        if exists is None:
            db.session.add(MessageTemplate(key="magic_link", channel="email", language=language,
                                           version=1, active=True, subject=subject,
                                           body_text=body))
    db.session.commit()


@pytest.fixture
def templates(app):
    install_magic_link_templates()


LINK = re.compile(r"(?:https?://[^/\s]+)?(/portal/login/[A-Za-z0-9_.\-]+)")


def last_login_link(recipient: str | None = None) -> str:
    """The path of the newest sign-in link in the outbox (optionally for one recipient)."""
    query = db.session.query(Message).filter(Message.event == "magic_link")
    if recipient:
        query = query.filter(Message.recipient == recipient)
    message = query.order_by(Message.id.desc()).first()
    assert message is not None, "no sign-in e-mail in the outbox"
    # The stored copy has the secret hidden: the link is read from what the customer got.
    text = received_text(message)
    match = LINK.search(text)
    assert match, text
    return match.group(1)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, email: str) -> None:
    """The real journey: ask for a link, open it, press Continue."""
    page = client.get("/portal/login").get_data(as_text=True)
    response = client.post("/portal/login", data={"email": email, "csrf_token": csrf_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    link = last_login_link(email)
    confirm = client.get(link)
    assert confirm.status_code == 200, confirm.get_data(as_text=True)
    done = client.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 302, done.get_data(as_text=True)


@pytest.fixture
def portal_client(app, templates):
    """portal_client(customer_or_email) -> a test client signed in to the portal."""
    from flask import g

    def make(who):
        email = who if isinstance(who, str) else who.email
        for name in ("csrf_token",):
            g.pop(name, None)
        client = app.test_client()
        sign_in(client, email)
        return client

    return make
