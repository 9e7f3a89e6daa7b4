"""Issue 12 item 6: a copied staff cookie stops working at logout and at a password change."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.core.models import utcnow
from app.core.staff_auth_models import StaffSession
from app.extensions import db
from tests.helpers import PASSWORD
from tests.security.staff_support import (
    copy_cookie,
    get,
    is_signed_in,
    log_out,
    page_token,
    post,
    sign_in,
    signed_in_client,
)

NEW_PASSWORD = "violet umbrella ladder 42"


def test_a_copied_cookie_stops_working_at_logout(app):
    client, _ = signed_in_client(app, "Credit manager")
    thief = app.test_client()
    copy_cookie(client, thief)
    assert is_signed_in(thief)  # the copy works while the session is open...

    log_out(client)
    assert not is_signed_in(client)
    assert not is_signed_in(thief)  # ...and not after logout, although its signature is valid
    assert db.session.scalars(select(StaffSession)).one().revoked_at is not None


def test_a_copied_cookie_stops_working_at_a_password_change(app):
    client, user = signed_in_client(app, "AR clerk")
    thief = app.test_client()
    copy_cookie(client, thief)
    assert is_signed_in(thief)

    response = post(client, "/resetmypassword/form", data={
        "current_password": PASSWORD, "password": NEW_PASSWORD, "conf_password": NEW_PASSWORD,
        "csrf_token": page_token(client, "/resetmypassword/form")})
    assert response.status_code == 302
    assert not is_signed_in(thief)
    assert is_signed_in(client)  # the person who changed it stays signed in, on a new session
    # and the new password is the one that works
    assert sign_in(app, app.test_client(), user.username, NEW_PASSWORD).headers[
        "Location"].endswith("/")


def test_an_admin_resetting_a_password_closes_that_users_sessions(app):
    victim, user = signed_in_client(app, "AR clerk")
    admin, _ = signed_in_client(app, "Admin")
    response = post(admin, f"/resetpassword/form?pk={user.id}", data={
        "password": NEW_PASSWORD, "conf_password": NEW_PASSWORD,
        "csrf_token": page_token(admin, f"/resetpassword/form?pk={user.id}")})
    assert response.status_code == 302
    assert not is_signed_in(victim)
    assert is_signed_in(admin)


def test_each_sign_in_gets_a_new_session_and_drops_what_was_planted_before(app):
    client, user = signed_in_client(app, "Read-only")
    first = client.get_cookie("session").value
    log_out(client)
    # an attacker plants values in a browser's session before the victim signs in
    with client.session_transaction() as planted:
        planted["_staff_sid"] = "planted-token"
        planted["_user_id"] = str(user.id)
        planted["cart"] = "attacker"
    assert not is_signed_in(client)  # a planted session id opens nothing
    sign_in(app, client, user.username)
    with client.session_transaction() as current:
        assert current["_staff_sid"] != "planted-token"
        assert "cart" not in current
    assert is_signed_in(client)
    assert client.get_cookie("session").value != first
    rows = db.session.scalars(select(StaffSession).where(StaffSession.user_id == user.id)).all()
    assert len(rows) == 2 and rows[0].token_hash != rows[1].token_hash
    assert all(len(row.token_hash) == 64 for row in rows)  # only a hash of the token is stored


def test_an_idle_session_ends_on_the_server_too(app):
    client, _ = signed_in_client(app, "Credit manager")
    row = db.session.scalars(select(StaffSession)).one()
    row.last_seen_at = utcnow() - app.permanent_session_lifetime - timedelta(minutes=1)
    db.session.commit()
    assert not is_signed_in(client)
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_a_deactivated_user_is_signed_out(app):
    client, user = signed_in_client(app, "AR clerk")
    user.active = False
    db.session.commit()
    assert not is_signed_in(client)
    assert get(client, "/").status_code == 302
