"""Issue 12 item 7: the staff password policy on every path that sets a password."""
from __future__ import annotations

import pytest
from werkzeug.security import check_password_hash

from app.core.passwords import PasswordRejected, common_passwords, password_problem
from app.extensions import db
from tests.helpers import PASSWORD, make_staff_user
from tests.security.staff_support import page_token, post, sign_in, signed_in_client

GOOD = "violet umbrella ladder 42"


@pytest.mark.parametrize("password", [
    "a", "short-pw-1", "123456789012",  # too short / digits only
    "password1234", "Password2024!", "qwertyuiop123", "iloveyou!!!!!",  # common, decorated
    "aaaaaaaaaaaaaaaa", "abababababab",  # too few different characters
])
def test_weak_passwords_are_refused(app, password):
    assert password_problem(password) is not None


def test_a_long_uncommon_passphrase_is_accepted(app):
    assert password_problem(GOOD) is None
    assert password_problem(PASSWORD) is None  # the tests' own password passes the policy


def test_the_password_may_not_contain_the_user_name(app):
    assert password_problem("jeanne.dupont-2026", username="jeanne.dupont") is not None
    assert password_problem("jeanne.dupont-2026", username="marc") is None


def test_the_shipped_list_is_loaded():
    words = common_passwords()
    assert len(words) > 15000 and "123456" in words and "password" in words


def test_the_add_user_screen_refuses_a_weak_password(app):
    from app.core.roles import AR_CLERK

    admin, _ = signed_in_client(app, "Admin")
    role = app.appbuilder.sm.find_role(AR_CLERK)
    form = {"first_name": "New", "last_name": "Clerk", "username": "newclerk",
            "email": "newclerk@example.test", "active": "y", "roles": str(role.id),
            "password": "password1234", "conf_password": "password1234",
            "csrf_token": page_token(admin, "/users/add")}
    response = post(admin, "/users/add", data=form)
    assert response.status_code == 200
    assert "one of the most common passwords" in response.get_data(as_text=True)
    assert app.appbuilder.sm.find_user(username="newclerk") is None
    form.update(password=GOOD, conf_password=GOOD, csrf_token=page_token(admin, "/users/add"))
    assert post(admin, "/users/add", data=form).status_code == 302
    assert app.appbuilder.sm.find_user(username="newclerk") is not None


def test_an_admin_cannot_set_a_short_password_for_someone(app):
    user = make_staff_user(app, "AR clerk")
    admin, _ = signed_in_client(app, "Admin")
    url = f"/resetpassword/form?pk={user.id}"
    response = post(admin, url, data={"password": "a", "conf_password": "a",
                                      "csrf_token": page_token(admin, url)})
    assert "at least 12 characters" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert check_password_hash(user.password, PASSWORD)


def test_changing_my_password_needs_the_current_one(app):
    client, user = signed_in_client(app, "Read-only")
    page = client.get("/resetmypassword/form").get_data(as_text=True)
    assert 'name="current_password"' in page
    response = post(client, "/resetmypassword/form", data={
        "current_password": "not my password", "password": GOOD, "conf_password": GOOD,
        "csrf_token": page_token(client, "/resetmypassword/form")})
    assert response.status_code == 200
    assert "This is not your current password." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert check_password_hash(user.password, PASSWORD)

    response = post(client, "/resetmypassword/form", data={
        "current_password": PASSWORD, "password": "read_only1234", "conf_password":
        "read_only1234", "csrf_token": page_token(client, "/resetmypassword/form")})
    assert "must not contain the user name" in response.get_data(as_text=True)

    response = post(client, "/resetmypassword/form", data={
        "current_password": PASSWORD, "password": GOOD, "conf_password": GOOD,
        "csrf_token": page_token(client, "/resetmypassword/form")})
    assert response.status_code == 302
    db.session.refresh(user)
    assert check_password_hash(user.password, GOOD)


def test_the_cli_commands_apply_the_policy(app):
    from flask_appbuilder.cli import fab

    runner = app.test_cli_runner()
    result = runner.invoke(fab, args=["create-admin", "--username", "boss", "--firstname",
                                 "B", "--lastname", "Oss", "--email", "boss@example.test",
                                 "--password", "letmein"])
    assert result.exit_code != 0 and "at least 12 characters" in result.output
    assert app.appbuilder.sm.find_user(username="boss") is None

    user = make_staff_user(app, "AR clerk")
    result = runner.invoke(fab, args=["reset-password", "--username", user.username,
                                 "--password", "password1234"])
    assert result.exit_code != 0 and "most common passwords" in result.output
    db.session.refresh(user)
    assert check_password_hash(user.password, PASSWORD)

    result = runner.invoke(fab, args=["reset-password", "--username", user.username,
                                 "--password", GOOD])
    assert result.exit_code == 0, result.output
    db.session.refresh(user)
    assert check_password_hash(user.password, GOOD)


def test_add_user_in_code_refuses_a_weak_password(app):
    sm = app.appbuilder.sm
    with pytest.raises(PasswordRejected):
        sm.add_user("weak", "W", "Eak", "weak@example.test", sm.find_role("Admin"),
                    password="admin")
    assert sm.find_user(username="weak") is None


def test_the_demo_password_follows_the_policy(app, monkeypatch):
    from app.demo import create_demo_staff

    monkeypatch.setenv("DEMO_PASSWORD", "admin")
    with pytest.raises(PasswordRejected):
        create_demo_staff(app)


def test_sign_in_still_works_with_an_older_short_password(app):
    """Passwords set before the policy keep working until changed (the policy is on setting)."""
    from werkzeug.security import generate_password_hash

    user = make_staff_user(app, "AR clerk")
    user.password = generate_password_hash("old")
    db.session.commit()
    response = sign_in(app, app.test_client(), user.username, "old")
    assert "/login" not in response.headers["Location"]


def test_an_admin_reset_with_the_users_name_or_a_bad_id_is_a_message_not_a_500(app):
    user = make_staff_user(app, "AR clerk")  # user name "ar_clerk"
    admin, _ = signed_in_client(app, "Admin")
    url = f"/resetpassword/form?pk={user.id}"
    response = post(admin, url, data={"password": "ar_clerk-violet-9", "conf_password":
                                      "ar_clerk-violet-9", "csrf_token": page_token(admin, url)})
    assert response.status_code == 200
    assert "must not contain the user name" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert check_password_hash(user.password, PASSWORD)
    for pk in ("abc", "999999"):
        response = post(admin, f"/resetpassword/form?pk={pk}", data={
            "password": GOOD, "conf_password": GOOD, "csrf_token": page_token(admin, url)})
        assert response.status_code == 302
