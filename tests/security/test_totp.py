"""Issue 12 item 7: the optional TOTP second factor (RFC 6238) for staff."""
from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import text

from app.core import totp
from app.core.staff_auth_models import StaffTotp
from app.extensions import db
from tests.helpers import PASSWORD, make_staff_user
from tests.security.staff_support import (
    get,
    is_signed_in,
    log_out,
    page_token,
    post,
    sign_in,
    signed_in_client,
)

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize("now,code", [
    # RFC 6238 appendix B, SHA-1 (8 digits there; authenticator apps show the last 6)
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
    (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_codes_match_the_rfc_6238_test_vectors(now, code):
    assert totp.code_at(RFC_SECRET, totp.current_step(now)) == code[-6:]
    assert totp.matching_step(RFC_SECRET, code[-6:], now=now) == totp.current_step(now)


def test_a_code_is_good_once_and_only_near_its_time():
    step = totp.current_step(1234567890)
    code = totp.code_at(RFC_SECRET, step)
    assert totp.matching_step(RFC_SECRET, code, now=1234567890 + 30) == step  # drift allowed
    assert totp.matching_step(RFC_SECRET, code, now=1234567890 + 120) is None
    assert totp.matching_step(RFC_SECRET, code, now=1234567890, after_step=step) is None
    assert totp.matching_step(RFC_SECRET, "12345", now=1234567890) is None
    assert totp.matching_step(RFC_SECRET, "abcdef", now=1234567890) is None


def _enrol(client) -> str:
    html = get(client, "/account/second-factor/").get_data(as_text=True)
    assert "<svg" in html and "otpauth://totp/" in html  # QR drawn here, no external service
    secret = re.search(r"<code>([A-Z2-7]+)</code>", html).group(1)
    response = post(client, "/account/second-factor/", data={
        "code": totp.code_at(secret, totp.current_step() - 1),
        "csrf_token": page_token(client, "/account/second-factor/")})
    assert response.status_code == 302
    return secret


def test_enrol_then_sign_in_with_a_code(app):
    client, user = signed_in_client(app, "Compliance officer")
    assert "Second factor" in get(client, "/users/userinfo/").get_data(as_text=True)
    secret = _enrol(client)
    row = db.session.get(StaffTotp, user.id)
    assert row.confirmed_at is not None and row.secret == secret
    stored = db.session.execute(text("SELECT secret FROM staff_totp")).scalar_one()
    assert secret not in stored  # encrypted at rest
    log_out(client)

    browser = app.test_client()
    response = sign_in(app, browser, user.username)
    assert response.headers["Location"].endswith("/login/code")
    assert not is_signed_in(browser)  # the password alone does not sign in
    refused = post(browser, "/login/code", data={
        "code": "000000" if totp.code_at(secret, totp.current_step()) != "000000" else "111111",
        "csrf_token": page_token(browser, "/login/code")})
    assert refused.status_code == 200 and not is_signed_in(browser)
    code = totp.code_at(secret, totp.current_step())
    response = post(browser, "/login/code", data={
        "code": code, "csrf_token": page_token(browser, "/login/code")})
    assert response.status_code == 302
    assert is_signed_in(browser)

    # the same code cannot be used again (someone who saw it over a shoulder)
    log_out(browser)
    sign_in(app, browser, user.username)
    post(browser, "/login/code", data={"code": code,
                                       "csrf_token": page_token(browser, "/login/code")})
    assert not is_signed_in(browser)


def test_get_on_the_setup_page_changes_nothing(app):
    client, user = signed_in_client(app, "Admin")
    get(client, "/account/second-factor/")
    assert db.session.get(StaffTotp, user.id) is None


def test_the_api_password_login_is_refused_to_an_account_with_a_second_factor(app):
    client, user = signed_in_client(app, "Admin")
    _enrol(client)
    response = app.test_client().post("/api/v1/security/login", json={
        "username": user.username, "password": PASSWORD, "provider": "db"})
    assert response.status_code == 401


def test_required_for_admins_when_configured(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_TOTP_REQUIRED", True)
    client, _ = signed_in_client(app, "Admin")
    response = get(client, "/customerview/list/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/second-factor/")
    _enrol(client)
    assert get(client, "/customerview/list/").status_code == 200
    clerk, _ = signed_in_client(app, "AR clerk")  # other roles are not asked
    assert get(clerk, "/customerview/list/").status_code == 200


def test_removing_the_second_factor_needs_the_password(app):
    client, user = signed_in_client(app, "Admin")
    _enrol(client)
    url = "/account/second-factor/"
    post(client, url + "remove", data={"password": "wrong password here",
                                       "csrf_token": page_token(client, url)})
    assert db.session.get(StaffTotp, user.id) is not None
    post(client, url + "remove", data={"password": PASSWORD,
                                       "csrf_token": page_token(client, url)})
    db.session.expire_all()
    assert db.session.get(StaffTotp, user.id) is None
    make_staff_user(app, "Admin")  # still there, signs in with the password alone again
    browser = app.test_client()
    assert sign_in(app, browser, user.username).headers["Location"].endswith("/")
