"""Reading a message's portal deep link the way a customer uses it."""
from __future__ import annotations

import re

from flask import g
from sqlalchemy import select

from app.core import portal_access
from app.core.portal_access import PortalAccess
from app.extensions import db
from app.portal import auth
from tests.portal.conftest import csrf_from, last_login_link

DEEP_LINK = re.compile(r"https?://[^/\s]+(/portal/go/[A-Za-z0-9_\-]+)")


def deep_link_path(text: str) -> str:
    """The path of the (one) deep link in a message's text."""
    found = set(DEEP_LINK.findall(text))
    assert len(found) == 1, text
    return found.pop()


def deep_link_target(text: str) -> PortalAccess:
    """The stored deep link behind the link in a message: whose it is and which page it opens."""
    raw = deep_link_path(text).rsplit("/", 1)[1]
    access = db.session.scalar(select(PortalAccess).where(
        PortalAccess.kind == "deep_link", PortalAccess.token_hash == portal_access.hash_token(raw)))
    assert access is not None, "the link in the message opens nothing"
    return access


def open_after_verification(app, text: str, email: str) -> str:
    """Follow the message's link as the customer does: the link page sends a fresh sign-in
    e-mail, its link signs in; returns the page the customer lands on (its path)."""
    auth.reset_rate_limits()
    g.pop("csrf_token", None)  # Flask-WTF caches the token on g, which the test shares
    client = app.test_client()
    path = deep_link_path(text)
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    assert client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))}
                       ).status_code == 302
    link = last_login_link(email)
    confirm = client.get(link)
    done = client.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 302, done.get_data(as_text=True)
    landing = done.headers["Location"]
    opened = client.get(landing)
    assert opened.status_code == 200, (landing, opened.status_code)
    return landing
