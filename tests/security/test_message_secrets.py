"""Issue 12 item 2: no staff role can read a usable secret from a message.

The attack: a Read-only staff member asks for the victim's sign-in link on the public form, then
reads it under Messages / Mailbox and signs in as the customer. Every message kind that carries
a secret — the sign-in link (template and built-in text), the e-mail-change confirmation link,
the SMS confirmation code — is stored with the secret hidden; the real text is sealed for the
delivery job and wiped after delivery. Here the customer really receives each secret (real
SMTP on loopback, an SMS gateway over HTTP) and it works, while a crawl of every page a
Read-only user can open (Messages, Mailbox, the 360° timeline, exports, the API) finds none.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from app.customers.models import Customer
from app.extensions import db
from app.notifications.models import Message, MessageTemplate
from app.notifications.outbox import HIDDEN
from tests.helpers import make_customer
from tests.notifications import test_channels as channel_tests
from tests.notifications.conftest import SmtpServer, configure_plugin
from tests.portal.conftest import csrf_from, install_magic_link_templates, sign_in

SECRET_EVENTS = {"magic_link", "email_change_confirmation", "sms_confirmation_code"}


@pytest.fixture
def channels(app, monkeypatch):
    """Real delivery: e-mail over SMTP on loopback, SMS through the gateway plugin over HTTP."""
    from app.notifications.defaults import install_defaults
    from app.portal.auth import reset_rate_limits

    install_defaults()
    install_magic_link_templates()
    reset_rate_limits()
    smtp = SmtpServer().start()
    configure_plugin("email_smtp", host="127.0.0.1", port=smtp.port, security="none")
    sms = channel_tests.FakeHttp()
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY", "key")
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET", "secret")
    configure_plugin("sms_gateway", base_url=sms.url, sender="ACME")
    yield smtp, sms
    smtp.stop()
    sms.close()
    reset_rate_limits()


def _fresh(app):
    g.pop("csrf_token", None)  # one client's CSRF token must not leak into the next (shared g)
    g.pop("_login_user", None)
    g.pop("user", None)
    return app.test_client()


def _post(client, url, data):
    g.pop("csrf_token", None)  # the token on the page must be this client's
    page = client.get(url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_from(page)})


def _mail_text(smtp, to: str) -> str:
    mails = [m for m in smtp.handler.messages if m["To"] == to]
    assert mails, f"no e-mail to {to}"
    return mails[-1].get_body(("plain",)).get_content()


def _sms_texts(sms) -> list[str]:
    return [parse_qs(body.decode())["text"][0] for _headers, body in sms.requests]


def crawl_for(app, client, secrets: list[str]) -> int:
    """GET every page the client may open (ids filled in with the messages' and customers'),
    and assert none shows any of ``secrets``; returns how many pages were read."""
    ids = sorted({*db.session.scalars(select(Message.id)), *db.session.scalars(select(Customer.id))})
    urls = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or "logout" in rule.rule:
            continue
        converters = rule._converters
        if not converters:
            urls.add(rule.rule)
            continue
        if all(isinstance(c, IntegerConverter) for c in converters.values()) and len(converters) == 1:
            name = next(iter(converters))
            for value in ids:
                try:
                    urls.add(app.url_map.bind("localhost").build(rule.endpoint, {name: value}))
                except Exception:  # noqa: BLE001, S112 (a rule needing more than the id)
                    continue
    # The listings with their filters and the search, as staff would use them.
    urls.update({"/messageview/list/?_flt_0_event=magic_link", "/mailboxview/list/?psize_MailboxView=100",
                 "/messageview/list/?psize_MessageView=100"})
    read = 0
    for url in sorted(urls):
        response = client.get(url)
        body = response.get_data()  # pages, JSON, CSV, PDFs alike
        for secret in secrets:
            assert secret.encode() not in body, f"{url} shows a secret"
            assert secret not in str(response.headers), f"{url} puts a secret in a header"
        read += 1
    return read


def test_read_only_staff_never_read_a_usable_secret_while_customers_receive_them(
        app, channels, staff_client, monkeypatch):
    smtp, sms = channels
    victim = make_customer(name="Victim NV", email="victim@example.test", language="en")
    staff = staff_client("Read-only")

    # 1. The attack: the staff member asks for the victim's sign-in link on the public form.
    response = _post(staff, "/portal/login", {"email": "victim@example.test"})
    assert response.status_code == 302
    login_text = _mail_text(smtp, "victim@example.test")
    login_path = re.search(r"/portal/login/([A-Za-z0-9_.\-]+)", login_text)
    assert login_path, login_text
    login_token = login_path.group(1)

    # 2. The customer changes their address: a confirmation link to the new one.
    customer = _fresh(app)
    sign_in(customer, "victim@example.test")
    changed = _post(customer, "/portal/profile", {"email": "new.victim@example.test",
                                                  "language": "en", "country": "BE",
                                                  "name": victim.name})
    assert changed.status_code == 302
    confirm_text = _mail_text(smtp, "new.victim@example.test")
    confirm_token = re.search(r"/portal/profile/email/([A-Za-z0-9_\-]+)", confirm_text).group(1)

    # 3. The customer turns SMS reminders on: a code to the phone.
    monkeypatch.setattr("app.selfservice.preferences.secrets.randbelow", lambda _n: 730519)
    sms.answers.append((200, {"message-count": "1", "messages": [
        {"to": "32470123456", "message-id": "SMS-1", "status": "0"}]}))
    prefs = _post(customer, "/portal/preferences", {"delivery_channel": "email",
                                                    "language": "en", "sms_reminders": "y",
                                                    "phone": "0470 12 34 56"})
    assert prefs.status_code == 302
    [sms_text] = _sms_texts(sms)
    code = re.search(r"\b(\d{6})\b", sms_text).group(1)
    assert code == "730519"

    # Every secret message was delivered, and what is stored shows the secret hidden.
    stored = db.session.scalars(select(Message).where(Message.event.in_(SECRET_EVENTS))).all()
    assert {m.event for m in stored} == SECRET_EVENTS
    for message in stored:
        db.session.refresh(message)
        assert message.status == "sent", (message.event, message.error)
        assert HIDDEN in message.body_text
        assert db.session.scalar(select(Message.sealed_body).where(
            Message.id == message.id)) is None  # the sealed copy is wiped after delivery

    # 4. The staff member looks everywhere they may.
    g.pop("csrf_token", None)
    staff = staff_client("Read-only")
    pages = crawl_for(app, staff, [login_token, confirm_token, code])
    assert pages > 20
    listing = staff.get("/messageview/list/").get_data(as_text=True)
    assert "victim@example.test" in listing  # the crawl really read the messages
    for message in stored:
        shown = staff.get(f"/messageview/show/{message.id}").get_data(as_text=True)
        assert HIDDEN in shown, message.event

    # 5. Each secret works for the customer who received it.
    other = _fresh(app)
    assert other.get(f"/portal/profile/email/{confirm_token}").status_code == 200
    ok = _post(customer, "/portal/preferences/sms-code", {"code": code})
    assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, victim.id).sms_reminders is True
    victim_browser = _fresh(app)
    confirm = victim_browser.get(f"/portal/login/{login_token}")
    assert confirm.status_code == 200
    done = victim_browser.post(f"/portal/login/{login_token}",
                               data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 302


def test_the_built_in_sign_in_text_hides_the_link_too(app, channels, staff_client):
    """When staff broke or deleted the magic_link template, the built-in text is used: same
    protection."""
    smtp, _sms = channels
    db.session.query(MessageTemplate).filter_by(key="magic_link").delete()
    db.session.commit()
    make_customer(email="builtin@example.test", language="fr")
    staff = staff_client("Read-only")
    assert _post(staff, "/portal/login", {"email": "builtin@example.test"}).status_code == 302
    text = _mail_text(smtp, "builtin@example.test")
    token = re.search(r"/portal/login/([A-Za-z0-9_.\-]+)", text).group(1)
    [message] = db.session.scalars(select(Message).where(Message.event == "magic_link")).all()
    assert message.template_id is None and HIDDEN in message.body_text
    assert token not in message.body_text
    pages = staff.get(f"/messageview/show/{message.id}").get_data(as_text=True) + \
        staff.get(f"/mailboxview/show/{message.id}").get_data(as_text=True)
    assert token not in pages


def test_an_undelivered_secret_is_sealed_not_readable_and_is_dropped_once_expired(
        app, staff_client, monkeypatch):
    """SMS without a gateway stays queued: the code lives only encrypted, and a code past its
    validity is never sent (the sealed copy is wiped)."""
    from datetime import timedelta

    from app.core import crypto
    from app.core.models import utcnow
    from app.notifications.defaults import install_defaults
    from app.notifications.jobs import deliver_due_messages
    from app.selfservice import preferences

    # Deployed, not the embedded default (where the local mailbox takes SMS too).
    monkeypatch.setitem(app.config, "PUBLIC_URL_REQUIRED", True)
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://creditdesk.example.test")
    install_defaults()
    customer = make_customer(email="sms@example.test", phone="+32470111222")
    preferences.send_sms_code(customer, "+32470111222")
    db.session.commit()
    message = db.session.scalar(select(Message).where(Message.event == "sms_confirmation_code"))
    assert message.status == "queued"
    sealed = db.session.scalar(select(Message.sealed_body).where(Message.id == message.id))
    code = re.search(r"\b(\d{6})\b", crypto.decrypt(sealed)).group(1)
    assert code not in sealed and code not in message.body_text
    page = staff_client("Read-only").get(f"/messageview/show/{message.id}").get_data(as_text=True)
    assert code not in page

    # Past its validity (and with a gateway now available) it is given up, not sent.
    message.next_attempt_at = utcnow() - timedelta(minutes=1)
    db.session.execute(Message.__table__.update().where(Message.id == message.id).values(
        sealed_body=crypto.encrypt(crypto.decrypt(sealed).replace(
            '"until": "', '"until": "1999-01-01T00:00:00+00:00", "was": "'))))
    db.session.commit()
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY", "key")
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET", "secret")
    configure_plugin("sms_gateway", base_url="http://127.0.0.1:9", sender="ACME")
    deliver_due_messages()
    db.session.refresh(message)
    assert message.status == "failed" and "expired" in message.error
    assert db.session.scalar(select(Message.sealed_body).where(Message.id == message.id)) is None


def test_the_local_mailbox_keeps_the_secret_hidden_and_only_the_console_has_it(
        app, staff_client, capsys):
    """The embedded default without SMTP: the mail lands in Messages → Mailbox, where staff read
    it with the link hidden; the developer running `python run.py` follows the console line."""
    from app.notifications.defaults import install_defaults
    from app.portal.auth import reset_rate_limits

    install_defaults()
    reset_rate_limits()
    make_customer(email="local@example.test", language="nl")
    staff = staff_client("Read-only")
    assert _post(staff, "/portal/login", {"email": "local@example.test"}).status_code == 302
    [message] = db.session.scalars(select(Message).where(Message.event == "magic_link")).all()
    db.session.refresh(message)
    assert message.status == "sent" and message.provider == "local_mailbox"
    console = capsys.readouterr().out
    token = re.search(r"/portal/login/([A-Za-z0-9_.\-]+)", console).group(1)
    box = staff.get(f"/mailboxview/show/{message.id}").get_data(as_text=True)
    assert f"/portal/login/{HIDDEN}" in box and token not in box
    assert crawl_for(app, staff, [token]) > 20
    reset_rate_limits()


def test_a_failed_secret_is_wiped_and_not_sent_again_hidden(app, channels, staff_client):
    """A sign-in e-mail the server refused: its sealed link is wiped at once, and "Send again"
    does not mail the customer a hidden link — staff are told the customer asks anew."""
    from tests.helpers import csrf_token

    smtp, _sms = channels
    smtp.handler.reply = "550 5.1.1 no such user"
    make_customer(email="gone@example.test", language="en")
    assert _post(_fresh(app), "/portal/login", {"email": "gone@example.test"}).status_code == 302
    [message] = db.session.scalars(select(Message).where(Message.event == "magic_link")).all()
    db.session.refresh(message)
    assert message.status == "failed"
    assert db.session.scalar(select(Message.sealed_body).where(Message.id == message.id)) is None
    smtp.handler.reply = None
    g.pop("csrf_token", None)
    admin = staff_client("Admin")
    page = admin.get("/messagetemplateview/add").get_data(as_text=True)  # a form: the token
    response = admin.post("/messageview/action_post", follow_redirects=True,
                          data={"action": "resend", "rowid": [str(message.id)],
                                "csrf_token": csrf_token(page)})
    assert "the customer asks for a new one" in response.get_data(as_text=True)
    db.session.refresh(message)
    assert message.status == "failed" and smtp.handler.messages == []
