"""One demo staff login per role, printed once, usable on the login page."""
from __future__ import annotations

from app.core.roles import STAFF_ROLES
from app.demo import create_demo_staff
from tests.helpers import csrf_token


def log_in(app, username: str, password: str):
    client = app.test_client()
    # A fresh app context: the test's own one would carry one login's `g.user` into the next.
    with app.app_context():
        page = client.get("/login/")
        response = client.post("/login/", data={
            "username": username, "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True))})
    return client, response


def logged_in(response) -> bool:
    """FAB answers a good login with a redirect away from the login page, a bad one back to it."""
    return response.status_code in (302, 303) and "/login" not in response.headers["Location"]


def test_one_user_per_role_who_can_log_in(app, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    logins = create_demo_staff(app)
    assert sorted(role for _, role, _ in logins) == sorted(STAFF_ROLES)
    assert {name for name, _, _ in logins} == {"admin", "credit", "clerk", "compliance",
                                               "readonly", "erp"}
    passwords = [password for _, _, password in logins]
    assert len(set(passwords)) == len(passwords) and all(len(p) >= 12 for p in passwords)
    sm = app.appbuilder.sm
    for username, role, password in logins:
        assert [r.name for r in sm.find_user(username=username).roles] == [role]
    client, response = log_in(app, "clerk", {u: p for u, _, p in logins}["clerk"])
    assert logged_in(response)
    assert "Logout" in client.get("/").get_data(as_text=True)


def test_a_wrong_password_is_refused(app):
    create_demo_staff(app)
    _, response = log_in(app, "admin", "not-the-password")
    assert response.status_code in (302, 303) and not logged_in(response)


def test_existing_users_keep_their_password_and_are_not_printed_again(app, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    first = create_demo_staff(app)
    assert {password for _, _, password in first} == {"demo-pass-123"}
    monkeypatch.setenv("DEMO_PASSWORD", "something-else")
    assert create_demo_staff(app) == []
    assert logged_in(log_in(app, "admin", "demo-pass-123")[1])
    assert not logged_in(log_in(app, "admin", "something-else")[1])
