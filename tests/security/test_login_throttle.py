"""Staff sign-in throttling (issue 12 low items, issue 20 item 6, issue 21 item 4): failures
count per address and per account, successes never; the 429 page is a page; Redis down is no
500; API-only accounts and refused roles get an explanation instead of "Forbidden"."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from sqlalchemy import func, select

from app.core.staff_auth_models import StaffLoginFailure
from app.extensions import db
from tests.helpers import PASSWORD, make_staff_user
from tests.security.staff_support import get, is_signed_in, page_token, post, signed_in_client

OFFICE = {"REMOTE_ADDR": "192.0.2.10"}


@pytest.fixture
def throttled(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_RATE_LIMITED", True)
    monkeypatch.setitem(app.config, "AUTH_RATE_LIMIT", "4 per 5 minute")
    monkeypatch.setitem(app.config, "AUTH_RATE_LIMIT_PER_ACCOUNT", "3 per 15 minute")
    return app


def _attempt(app, username, password, environ=OFFICE):
    client = app.test_client()
    client.environ_base.update(environ)
    token = page_token(client, "/login/")
    return post(client, "/login/", data={"username": username, "password": password,
                                         "csrf_token": token})


def _signed_in(response) -> bool:
    return response.status_code == 302 and "/login" not in response.headers["Location"]


def test_successful_sign_ins_do_not_count(throttled):
    users = [make_staff_user(throttled, "AR clerk", f"clerk{n}") for n in range(3)]
    for _ in range(4):  # 12 sign-ins from one office address, limit 4 failures
        for user in users:
            assert _signed_in(_attempt(throttled, user.username, PASSWORD))
    assert db.session.scalar(select(func.count()).select_from(StaffLoginFailure)) == 0


def test_failures_per_account_then_429_even_with_the_right_password(throttled):
    user = make_staff_user(throttled, "Credit manager")
    for n in range(3):  # from three different addresses: the account counts them together
        response = _attempt(throttled, user.username, "wrong password",
                            {"REMOTE_ADDR": f"198.51.100.{n}"})
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = _attempt(throttled, user.username, PASSWORD, {"REMOTE_ADDR": "198.51.100.9"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    assert "Too many sign-in attempts" in html and "navbar" in html  # a styled page
    assert "Try again in 15 minutes" in html
    # another account from the same addresses is not locked out
    other = make_staff_user(throttled, "AR clerk")
    assert _signed_in(_attempt(throttled, other.username, PASSWORD,
                               {"REMOTE_ADDR": "198.51.100.1"}))


def test_failures_per_address(throttled):
    make_staff_user(throttled, "AR clerk")
    for n in range(4):  # four different guessed accounts from one address
        assert _attempt(throttled, f"guess{n}", "wrong password").status_code == 302
    assert _attempt(throttled, "guess9", "wrong password").status_code == 429
    assert _attempt(throttled, "ar_clerk", PASSWORD).status_code == 429
    # a colleague on another address signs in
    assert _signed_in(_attempt(throttled, "ar_clerk", PASSWORD, {"REMOTE_ADDR": "203.0.113.5"}))


def test_the_api_login_is_throttled_too(throttled):
    user = make_staff_user(throttled, "ERP integration")
    client = throttled.test_client()
    for _ in range(3):
        assert client.post("/api/v1/security/login", json={
            "username": user.username, "password": "wrong", "provider": "db"}).status_code == 401
    assert client.post("/api/v1/security/login", json={
        "username": user.username, "password": PASSWORD, "provider": "db"}).status_code == 401


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary")
def test_a_new_staff_sign_in_works_while_redis_is_down(app, tmp_path):
    """Production shape: Flask-Limiter's storage is Redis. Stop Redis: signing in still works
    and failures are still counted (in the database); never a 500."""
    from app import create_app
    from config import TestConfig
    from tests.conftest import database_url

    port = _free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        redis_url = f"redis://127.0.0.1:{port}/0"
        production = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url(),
                                RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url,
                                AUTH_RATE_LIMITED=True, AUTH_RATE_LIMIT="3 per 5 minute",
                                AUTH_RATE_LIMIT_PER_ACCOUNT="3 per 5 minute")
        user = make_staff_user(app, "Credit manager")
        assert _signed_in(_attempt(production, user.username, PASSWORD))
    finally:
        server.kill()
        server.wait(10)

    client = production.test_client()
    assert is_signed_in(client) is False
    assert _signed_in(_attempt(production, user.username, PASSWORD))
    for _ in range(3):
        assert _attempt(production, user.username, "wrong password").status_code == 302
    assert _attempt(production, user.username, PASSWORD).status_code == 429
    with production.app_context():
        db.engine.dispose()


def test_an_api_only_account_sees_what_it_is_for(app):
    client, _ = signed_in_client(app, "ERP integration")
    response = get(client, "/")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "technical account of the ERP integration" in html
    assert 'action="/logout/"' in html and "Forbidden" not in html
    assert get(client, "/customerview/list/").status_code == 403


def test_read_only_on_an_upload_page_is_told_why(app):
    client, _ = signed_in_client(app, "Read-only")
    response = get(client, "/imports/")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "cannot import or upload files" in html and "navbar" in html
    assert "Forbidden" not in html


def test_parallel_guesses_get_no_more_tries_than_the_limit(throttled):
    """Each attempt is counted before its password is checked: a burst of parallel guesses
    cannot all pass a check made before any of them was written."""
    import threading

    user = make_staff_user(throttled, "Credit manager")
    clients, tokens = [], []
    for _ in range(8):
        client = throttled.test_client()
        client.environ_base.update({"REMOTE_ADDR": "198.51.100.77"})
        tokens.append(page_token(client, "/login/"))
        clients.append(client)
    barrier = threading.Barrier(len(clients))
    statuses = []

    def guess(client, token):
        barrier.wait()
        response = client.post("/login/", data={"username": user.username,
                                                "password": "wrong password", "csrf_token": token})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(statuses) == 8 and set(statuses) <= {302, 429}
    assert statuses.count(302) <= 3  # AUTH_RATE_LIMIT_PER_ACCOUNT: 3 failures
    assert db.session.scalar(select(func.count()).select_from(StaffLoginFailure)) <= 3
