"""Issue 21 item 4 (messages): Redis down loses no sign-in link or SMS code, and never a 500.

A throw-away redis-server on its own port, a real RQ worker process on the test database, real
SMTP on loopback and an SMS gateway over HTTP. Redis is stopped mid-test: the sign-in form still
answers (its limits counted in this process), the sign-in e-mail and the SMS code are in the
outbox, committed; once Redis is back, the outbox sweep hands them to the worker, which sends
them.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from urllib.parse import parse_qs

import pytest
from flask import g
from sqlalchemy import select

from app.extensions import db
from app.notifications.models import Message
from tests.conftest import _TMP, database_url
from tests.helpers import make_customer
from tests.notifications import test_channels as channel_tests
from tests.notifications.conftest import SmtpServer, configure_plugin, free_port
from tests.notifications.workers import start_worker, stop
from tests.portal.conftest import csrf_from, install_magic_link_templates

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="needs the redis-server binary")


class ThrowAwayRedis:
    """redis-server on a free port, no persistence; stop() and start() again on the same port."""

    def __init__(self, folder) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowAwayRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _listening(self.port), 20, "redis-server to listen")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None
        _wait(lambda: not _listening(self.port), 20, "redis-server to stop")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _post(client, url, data):
    g.pop("csrf_token", None)
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return client.post(url, data={**data, "csrf_token": csrf_from(page.get_data(as_text=True))})


def _messages(event: str) -> list[Message]:
    db.session.rollback()  # see what the worker committed
    return list(db.session.scalars(select(Message).where(Message.event == event)
                                   .order_by(Message.id)))


@pytest.fixture
def production_shape(app, monkeypatch, tmp_path):
    """JOBS_MODE rq on the throw-away Redis, the portal limiter on it too, a real worker."""
    from app.core.settings import set_setting
    from app.notifications.defaults import install_defaults
    from app.portal.auth import reset_rate_limits

    redis = ThrowAwayRedis(tmp_path).start()
    install_defaults()
    install_magic_link_templates()
    set_setting("notifications.stuck_after_minutes", 1)
    db.session.commit()
    smtp = SmtpServer().start()
    configure_plugin("email_smtp", host="127.0.0.1", port=smtp.port, security="none")
    sms = channel_tests.FakeHttp()
    for name, value in (("CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY", "key"),
                        ("CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET", "secret"),
                        # the worker decrypts the sealed secrets with the tests' key
                        ("CREDITDESK_ENCRYPTION_KEY", app.config["ENCRYPTION_KEYS"]),
                        ("SECRET_KEY", app.config["SECRET_KEY"])):
        monkeypatch.setenv(name, value)
    configure_plugin("sms_gateway", base_url=sms.url, sender="ACME")
    for key, value in (("JOBS_MODE", "rq"), ("REDIS_URL", redis.url),
                       ("PORTAL_RATELIMIT_STORAGE_URI", redis.url),
                       ("PORTAL_RATELIMIT_ENABLED", True)):
        monkeypatch.setitem(app.config, key, value)
    reset_rate_limits()
    state = {"worker": start_worker(database_url(), redis.url, str(_TMP / "instance"),
                                    tmp_path / "worker.log")}

    def restart_worker_if_gone():
        if state["worker"].poll() is not None:
            state["worker"] = start_worker(database_url(), redis.url, str(_TMP / "instance"),
                                           tmp_path / "worker2.log")

    yield redis, smtp, sms, restart_worker_if_gone
    stop(state["worker"])
    redis.stop()
    smtp.stop()
    sms.close()
    reset_rate_limits()


def test_redis_down_loses_no_sign_in_link_nor_sms_code(app, production_shape, monkeypatch):
    from app.notifications.jobs import deliver_due_messages

    redis, smtp, sms, restart_worker_if_gone = production_shape
    make_customer(email="down@example.test", language="en")

    # Redis up: the usual path (job → outbox → delivery job), and the customer signs in.
    browser = app.test_client()
    assert _post(browser, "/portal/login", {"email": "down@example.test"}).status_code == 302
    _wait(lambda: any(m["To"] == "down@example.test" for m in smtp.handler.messages), 60,
          "the first sign-in e-mail")
    first = smtp.handler.messages[0].get_body(("plain",)).get_content()
    link = re.search(r"/portal/login/[A-Za-z0-9_.\-]+", first).group(0)
    g.pop("csrf_token", None)
    confirm = browser.get(link)
    assert browser.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))}
                        ).status_code == 302

    # Redis goes down.
    redis.stop()
    monkeypatch.setitem(app.config, "PORTAL_LOGIN_LIMIT_PER_ADDRESS", "3 per hour")
    other = app.test_client()
    answer = _post(other, "/portal/login", {"email": "down@example.test"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/portal/login/sent")
    links = _messages("magic_link")
    assert len(links) == 2 and links[1].status == "queued"  # in the outbox, committed
    # The limits still hold, counted in this process: refused politely, never a 500.
    statuses = [_post(app.test_client(), "/portal/login", {"email": "nobody@example.test"})
                .status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    # The signed-in customer asks for an SMS code: in the outbox as well.
    monkeypatch.setattr("app.selfservice.preferences.secrets.randbelow", lambda _n: 482913)
    prefs = _post(browser, "/portal/preferences", {"delivery_channel": "email", "language": "en",
                                                   "sms_reminders": "y",
                                                   "phone": "0470 12 34 56"})
    assert prefs.status_code == 302
    [code_message] = _messages("sms_confirmation_code")
    assert code_message.status == "queued" and "482913" not in code_message.body_text
    deliver_due_messages()  # the sweep while Redis is down: nothing breaks, nothing is lost
    assert [m.status for m in _messages("magic_link")][1] == "queued"
    assert len(smtp.handler.messages) == 1 and not sms.requests

    # Redis is back: the sweep (run by the scheduler every tick) hands them to the worker.
    redis.start()
    restart_worker_if_gone()
    sms.answers.append((200, {"message-count": "1", "messages": [
        {"to": "32470123456", "message-id": "SMS-9", "status": "0"}]}))
    deliver_due_messages()
    _wait(lambda: all(m.status == "sent" for m in _messages("magic_link")
                      + _messages("sms_confirmation_code")), 90, "delivery after Redis is back")
    second = smtp.handler.messages[1].get_body(("plain",)).get_content()
    assert re.search(r"/portal/login/[A-Za-z0-9_.\-]+", second)
    [(_headers, body)] = sms.requests
    assert "482913" in parse_qs(body.decode())["text"][0]
    # The new sign-in link works.
    newer = re.search(r"/portal/login/[A-Za-z0-9_.\-]+", second).group(0)
    g.pop("csrf_token", None)
    fresh = app.test_client()
    page = fresh.get(newer)
    assert page.status_code == 200
    assert fresh.post(newer, data={"csrf_token": csrf_from(page.get_data(as_text=True))}
                      ).status_code == 302
    stored = _messages("magic_link")[1]
    assert newer not in stored.body_text and "••••••" in stored.body_text  # hidden from staff
