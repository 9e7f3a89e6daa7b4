"""Helpers for the staff sign-in tests: sign in over HTTP, copy a cookie into another browser."""
from __future__ import annotations

import re

from flask import g

from tests.helpers import PASSWORD, make_staff_user


def forget_request_cache() -> None:
    """The test keeps one app context open, and Flask-Login caches the user (Flask-WTF the CSRF
    token) in its `g`: forget them so that the next request decides from its own cookie."""
    for name in ("_login_user", "user", "csrf_token"):
        g.pop(name, None)


def get(client, url: str, **kwargs):
    forget_request_cache()
    return client.get(url, **kwargs)


def post(client, url: str, **kwargs):
    forget_request_cache()
    return client.post(url, **kwargs)


def page_token(client, url: str) -> str:
    html = get(client, url).get_data(as_text=True)
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<input[^>]*value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def sign_in(app, client, username: str, password: str = PASSWORD):
    token = page_token(client, "/login/")
    return post(client, "/login/", data={"username": username, "password": password,
                                        "csrf_token": token})


def signed_in_client(app, role: str = "Admin", username: str | None = None):
    user = make_staff_user(app, role, username)
    client = app.test_client()
    response = sign_in(app, client, user.username)
    assert response.status_code in (302, 303) and "/login" not in response.headers["Location"]
    return client, user


def is_signed_in(client) -> bool:
    """The home page opens (200) only for a signed-in user; others are sent to the login."""
    return get(client, "/").status_code == 200


def copy_cookie(source, target) -> None:
    cookie = source.get_cookie("session")
    assert cookie is not None, "no session cookie"
    target.set_cookie("session", cookie.value)


def log_out(client):
    """Logout is a POST with a CSRF token (a GET answers a page with the button)."""
    token = page_token(client, "/")
    response = post(client, "/logout/", data={"csrf_token": token})
    if response.status_code == 405:  # before logout accepted POST
        response = get(client, "/logout/")
    assert response.status_code in (302, 303), response.status_code
    return response
