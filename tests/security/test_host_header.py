"""Issue 12 item 1: no account takeover through a forged Host / X-Forwarded-Host header.

The attack: ``POST /portal/login`` with ``Host: attacker.example`` and the victim's address;
the victim then received a genuine sign-in link to ``http://attacker.example/portal/login/…``.
Every link in a message now comes from one configured address (app.core.links), and with
PUBLIC_URL set, TRUSTED_HOSTS refuses requests for any other host.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import select

from app.core import links
from app.extensions import db
from app.notifications.models import Message
from tests.helpers import make_customer
from tests.notifications.conftest import SmtpServer, configure_plugin, free_port
from tests.notifications.received import received_text
from tests.portal.conftest import csrf_from, install_magic_link_templates

ATTACKER = "attacker.example"
PUBLIC = "https://credit.example.com"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def smtp(app):
    from app.notifications.defaults import install_defaults

    install_defaults()
    install_magic_link_templates()
    server = SmtpServer().start()
    configure_plugin("email_smtp", host="127.0.0.1", port=server.port, security="none")
    yield server
    server.stop()


@pytest.fixture
def fresh_limits(app):
    from app.portal.auth import reset_rate_limits

    reset_rate_limits()
    yield
    reset_rate_limits()


def _client(app):
    from flask import g

    g.pop("csrf_token", None)  # the test's app context would carry one client's token over
    return app.test_client()


# (request headers, TRUSTED_PROXY_COUNT): a forged Host, a forged X-Forwarded-Host with and
# without a trusted proxy, and both at once.
FORGERIES = [
    pytest.param({"Host": ATTACKER}, 0, id="host"),
    pytest.param({"X-Forwarded-Host": ATTACKER}, 0, id="x-forwarded-host"),
    pytest.param({"X-Forwarded-Host": ATTACKER, "X-Forwarded-For": "203.0.113.9"}, 1,
                 id="x-forwarded-host-behind-trusted-proxy"),
    pytest.param({"Host": ATTACKER, "X-Forwarded-Host": ATTACKER}, 1, id="both"),
]


def _ask_for_a_link(app, email: str, headers: dict):
    client = _client(app)
    page = client.get("/portal/login", headers=headers)
    assert page.status_code == 200
    response = client.post("/portal/login", headers=headers,
                           data={"email": email, "csrf_token": csrf_from(page.get_data(as_text=True))})
    return response


@pytest.mark.parametrize("public_url", [PUBLIC, ""], ids=["PUBLIC_URL", "embedded-default"])
@pytest.mark.parametrize(("headers", "proxies"), FORGERIES)
def test_a_forged_host_never_reaches_the_sign_in_email(app, smtp, fresh_limits, monkeypatch,
                                                       headers, proxies, public_url):
    make_customer(email="victim@example.test", language="en")
    monkeypatch.setitem(app.config, "PUBLIC_URL", public_url)
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", proxies)
    response = _ask_for_a_link(app, "victim@example.test", headers)
    assert response.status_code == 302
    assert ATTACKER not in response.headers["Location"]

    [mail] = smtp.handler.messages
    delivered = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    expected = (public_url or links.DEFAULT_URL) + "/portal/login/"
    assert expected in delivered and expected in html
    assert ATTACKER not in delivered and ATTACKER not in html and ATTACKER not in mail.as_string()
    stored = db.session.scalar(select(Message).where(Message.event == "magic_link"))
    assert ATTACKER not in stored.body_text + (stored.body_html or "")

    # The customer's link works, on the real host.
    path = re.search(r"/portal/login/[A-Za-z0-9_.\-]+", delivered).group(0)
    victim = _client(app)
    confirm = victim.get(path)
    assert confirm.status_code == 200
    done = victim.post(path, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 302 and ATTACKER not in done.headers["Location"]


def test_deep_links_and_messages_built_during_a_forged_request_use_the_public_address(
        app, monkeypatch):
    """Messages queued while serving any request (a staff action, a portal form) ignore it."""
    from app.notifications.defaults import install_defaults
    from app.notifications.services import notify_account_settled, notify_email_change

    install_defaults()
    monkeypatch.setitem(app.config, "PUBLIC_URL", PUBLIC)
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", 1)
    customer = make_customer(email="deep@example.test", language="fr")
    environ = {"HTTP_X_FORWARDED_HOST": ATTACKER}
    with app.test_request_context("/portal/profile", base_url=f"http://{ATTACKER}",
                                  environ_base=environ):
        from app.portal.auth import base_url

        assert base_url() == PUBLIC
        settled = notify_account_settled(customer)
        from app.selfservice.profile import _default_confirm_url

        change = notify_email_change(customer, "new@example.test", _default_confirm_url("tok"))
        db.session.commit()
    for message in [*settled, *change]:
        text = received_text(message) + message.body_text + (message.body_html or "")
        assert ATTACKER not in text
        assert PUBLIC + "/portal/" in text


def test_email_change_confirmation_over_http_with_a_forged_forwarded_host(app, smtp,
                                                                          fresh_limits,
                                                                          monkeypatch):
    from tests.portal.conftest import sign_in

    customer = make_customer(email="old@example.test", language="en")
    monkeypatch.setitem(app.config, "PUBLIC_URL", PUBLIC)
    client = _client(app)
    sign_in(client, "old@example.test")
    smtp.handler.messages.clear()
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", 1)
    forged = {"X-Forwarded-Host": ATTACKER, "X-Forwarded-For": "203.0.113.9"}
    page = client.get("/portal/profile", headers=forged).get_data(as_text=True)
    response = client.post("/portal/profile", headers=forged,
                           data={"email": "new@example.test", "language": "en",
                                 "country": "BE", "name": customer.name,
                                 "csrf_token": csrf_from(page)})
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    assert ATTACKER not in response.headers["Location"]
    mails = [m for m in smtp.handler.messages if m["To"] == "new@example.test"]
    assert mails, "no confirmation e-mail"
    text = mails[0].get_body(("plain",)).get_content()
    assert PUBLIC + "/portal/profile/email/" in text and ATTACKER not in mails[0].as_string()


# --- TRUSTED_HOSTS: production refuses requests for another host -------------------------------

@pytest.mark.parametrize(("headers", "proxies"), FORGERIES[:1] + FORGERIES[2:])
def test_trusted_hosts_refuse_a_request_for_another_host(app, fresh_limits, monkeypatch,
                                                         headers, proxies):
    make_customer(email="victim@example.test")
    config = {**app.config, "PUBLIC_URL": PUBLIC, "TRUSTED_HOSTS_EXTRA": ["localhost"]}
    monkeypatch.setitem(app.config, "PUBLIC_URL", PUBLIC)
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", links.trusted_hosts(config))
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", proxies)
    assert app.config["TRUSTED_HOSTS"] == ["credit.example.com", "localhost"]
    client = _client(app)
    for path in ("/portal/login", "/", "/login/", "/api/v1/_openapi"):
        assert client.get(path, headers=headers).status_code == 400, path
    response = client.post("/portal/login", headers=headers,
                           data={"email": "victim@example.test"})
    assert response.status_code == 400
    assert db.session.scalar(select(Message.id)) is None  # no message was made
    # The public host itself is served.
    assert client.get("/portal/login", base_url=PUBLIC).status_code == 200


def test_trusted_hosts_come_from_public_url_and_the_list(app):
    assert links.trusted_hosts({"PUBLIC_URL": "https://credit.example.com:8443/cd",
                                "TRUSTED_HOSTS_EXTRA": "intranet.local, 10.0.0.5"}) == \
        ["credit.example.com", "intranet.local", "10.0.0.5"]
    assert links.trusted_hosts({"PUBLIC_URL": "", "TRUSTED_HOSTS_EXTRA": []}) is None
    # A PUBLIC_URL with a path prefix keeps it in the links.
    with app.test_request_context(base_url=f"http://{ATTACKER}"):
        app.config["PUBLIC_URL"] = "https://credit.example.com/cd/"
        try:
            assert links.absolute("/portal/") == "https://credit.example.com/cd/portal/"
        finally:
            app.config["PUBLIC_URL"] = ""


def test_production_without_public_url_refuses_to_start_and_to_build_links(app, monkeypatch,
                                                                           tmp_path):
    monkeypatch.setitem(app.config, "PUBLIC_URL_REQUIRED", True)
    monkeypatch.setitem(app.config, "PUBLIC_URL", "")
    with pytest.raises(links.PublicUrlMissing):
        links.public_base()
    with pytest.raises(links.PublicUrlMissing):
        links.require_public_url(app)
    # The production web entry point itself (gunicorn wsgi:app) stops with the reason.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
           "REDIS_URL": "redis://127.0.0.1:1/0", "CREDITDESK_INSTANCE_DIR": str(tmp_path),
           "SECRET_KEY": "x" * 32}
    env.pop("PUBLIC_URL", None)
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "PUBLIC_URL is not set" in done.stderr
    # A setting edited by staff does not replace it in production either.
    from app.core.settings import set_setting

    set_setting("notifications.public_url", "https://elsewhere.example")
    db.session.commit()
    with pytest.raises(links.PublicUrlMissing):
        links.public_base()
    monkeypatch.setitem(app.config, "PUBLIC_URL", PUBLIC)
    assert links.public_base() == PUBLIC  # the environment wins over the setting


def test_on_the_embedded_default_a_setting_staff_stored_is_used(app):
    from app.core.settings import set_setting

    assert links.public_base() == links.DEFAULT_URL
    set_setting("notifications.public_url", "http://creditdesk.lan:5601/")
    db.session.commit()
    assert links.public_base() == "http://creditdesk.lan:5601"


# --- the embedded default: links on the address run.py listens on (issue 20 item 6) ------------

def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "run.py stopped"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError("run.py did not start listening")


def test_run_py_links_use_its_own_port_never_the_host_header(tmp_path):
    """`python run.py --port P`: the sign-in link on the console and in the mailbox uses port
    P (not 5000), even when the request names another host."""
    import sqlite3

    import requests

    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "JOBS_MODE", "SMTP_HOST")}
    env.update(CREDITDESK_INSTANCE_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "run.py", "--port", str(port),
                                    "--no-scheduler"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process)
        with sqlite3.connect(tmp_path / "creditdesk.db") as conn:
            [email] = conn.execute("SELECT email FROM customer WHERE email IS NOT NULL "
                                   "ORDER BY id LIMIT 1").fetchone()
        session = requests.Session()
        forged = {"Host": f"{ATTACKER}:5000"}
        page = session.get(f"http://127.0.0.1:{port}/portal/login", headers=forged, timeout=30)
        response = session.post(f"http://127.0.0.1:{port}/portal/login", headers=forged,
                                data={"email": email, "csrf_token": csrf_from(page.text)},
                                allow_redirects=False, timeout=30)
        assert response.status_code == 302 and ATTACKER not in response.headers["Location"]
        deadline = time.monotonic() + 60
        while "/portal/login/" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        console = log_path.read_text()
        assert f"http://127.0.0.1:{port}/portal/login/" in console
        assert f"read it at http://127.0.0.1:{port}/mailboxview/show/" in console
        assert ATTACKER not in console and "127.0.0.1:5000" not in console
        with sqlite3.connect(tmp_path / "creditdesk.db") as conn:
            bodies = [row[0] for row in conn.execute("SELECT body_text FROM message")]
        assert bodies and not any(ATTACKER in b or ":5000/" in b for b in bodies)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _get_routes(app) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static" \
                and "logout" not in rule.rule:
            paths.append(rule.rule)
    return sorted(paths)


@pytest.mark.parametrize(("headers", "proxies"), FORGERIES)
def test_no_redirect_anywhere_points_at_a_forged_host(app, fresh_limits, monkeypatch, headers,
                                                      proxies):
    """Every page without parameters, signed out, then signed in to the portal and to the back
    office: a redirect's Location never carries the forged host."""
    from tests.portal.conftest import sign_in

    install_magic_link_templates()
    make_customer(email="crawl@example.test")
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", proxies)
    portal = _client(app)
    sign_in(portal, "crawl@example.test")
    from tests.helpers import logged_in_client

    g.pop("csrf_token", None)
    staff = logged_in_client(app, "Admin")
    for signed_in in (portal, staff):  # the sessions go along to the forged host as well
        signed_in.set_cookie("session", signed_in.get_cookie("session").value, domain=ATTACKER)
    checked = 0
    for client in (_client(app), portal, staff):
        for path in [*_get_routes(app), "/portal/language/fr?next=/portal/invoices",
                     "/portal/login?next=/portal/statement", "/lang/fr"]:
            response = client.get(path, headers=headers)
            location = response.headers.get("Location", "")
            assert ATTACKER not in location, (path, location)
            assert ATTACKER.encode() not in response.get_data(), path
            checked += 1
    # The sign-in and sign-out posts as well.
    g.pop("csrf_token", None)
    page = portal.get("/portal/profile", headers=headers).get_data(as_text=True)
    out = portal.post("/portal/logout", headers=headers, data={"csrf_token": csrf_from(page)})
    assert out.status_code == 302 and ATTACKER not in out.headers["Location"]
    assert checked > 100
