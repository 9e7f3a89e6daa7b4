"""Magic-link sign-in, the portal session, logout, idle timeout, CSRF and deep links."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from flask import g

from app.core import links, portal_access
from app.core.models import utcnow
from app.core.portal_access import PortalAccess
from app.customers.models import Contact
from app.extensions import db
from app.notifications.models import Message
from app.portal import auth
from tests.helpers import make_customer
from tests.portal.conftest import csrf_from, last_login_link, sign_in


def _ask_link(client, email, **extra):
    page = client.get("/portal/login").get_data(as_text=True)
    return client.post("/portal/login", data={"email": email, "csrf_token": csrf_from(page),
                                              **extra})


def _fresh_client(app):
    g.pop("csrf_token", None)  # Flask-WTF caches the token on g, which the test shares
    return app.test_client()


def test_known_and_unknown_addresses_get_the_same_answer(app, client, templates):
    make_customer(email="known@example.test")
    known = _ask_link(client, "known@example.test")
    unknown = _ask_link(_fresh_client(app), "nobody@example.test")
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    page_known = client.get(known.headers["Location"]).get_data(as_text=True)
    page_unknown = client.get(unknown.headers["Location"]).get_data(as_text=True)
    assert page_known == page_unknown
    assert "15" in page_known
    # Only the known address got an e-mail, and only one sign-in token exists.
    messages = db.session.query(Message).filter_by(event="magic_link").all()
    assert [m.recipient for m in messages] == ["known@example.test"]
    assert db.session.query(PortalAccess).filter_by(kind="magic_link").count() == 1


def test_token_is_stored_hashed_and_expires_in_15_minutes(client, templates):
    make_customer(email="hash@example.test")
    _ask_link(client, "hash@example.test")
    link = last_login_link()
    signed = link.rsplit("/", 1)[1]
    raw = auth.unsign(signed)
    access = db.session.query(PortalAccess).filter_by(kind="magic_link").one()
    assert raw and raw not in access.token_hash and signed not in access.token_hash
    assert access.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    minutes = (access.expires_at - access.created_at).total_seconds() / 60
    assert 14.9 < minutes <= 15.1


def test_link_signs_in_once_and_opens_the_dashboard(app, client, templates):
    customer = make_customer(email="once@example.test", name="Once SPRL")
    _ask_link(client, "once@example.test")
    link = last_login_link()
    # Opening the link (what a mail scanner does) does not spend it.
    page = client.get(link)
    assert page.status_code == 200
    assert client.get(link).status_code == 200
    done = client.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 302 and done.headers["Location"].endswith("/portal/")
    dashboard = client.get("/portal/")
    assert dashboard.status_code == 200 and customer.name in dashboard.get_data(as_text=True)
    # The same link a second time: refused, in any browser.
    other = _fresh_client(app)
    again = other.get(link)
    assert again.status_code == 410
    assert other.get("/portal/").status_code == 302


def test_expired_link_is_refused(client, templates):
    make_customer(email="late@example.test")
    _ask_link(client, "late@example.test")
    link = last_login_link()
    access = db.session.query(PortalAccess).filter_by(kind="magic_link").one()
    access.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(link).status_code == 410


def test_tampered_or_garbage_tokens_are_refused(client):
    assert client.get("/portal/login/not-a-token").status_code == 410
    assert client.get("/portal/login/" + "A" * 300).status_code == 410


def test_portal_contact_may_sign_in_and_gets_the_link_at_their_address(client, templates):
    customer = make_customer(email="billing@company.test", delivery_channel="paper")
    customer.contacts.append(Contact(name="Ann Accountant", email="Ann@Company.test",
                                     portal_access=True, role="other", language="nl"))
    customer.contacts.append(Contact(name="No Access", email="noaccess@company.test",
                                     portal_access=False, role="other"))
    db.session.commit()
    _ask_link(client, "ann@company.test")
    message = db.session.query(Message).filter_by(event="magic_link").one()
    assert message.recipient == "ann@company.test"
    assert message.channel == "email"
    _ask_link(client, "noaccess@company.test")
    assert db.session.query(Message).filter_by(event="magic_link").count() == 1


def test_rate_limit_per_address(app, client, templates):
    make_customer(email="busy@example.test")
    app.config["PORTAL_LOGIN_LIMIT_PER_ADDRESS"] = "3 per hour"
    try:
        statuses = [_ask_link(client, "busy@example.test").status_code for _ in range(4)]
        # An unknown address is limited the same way: the refusal tells nothing.
        unknown = [_ask_link(client, "ghost@example.test").status_code for _ in range(4)]
    finally:
        del app.config["PORTAL_LOGIN_LIMIT_PER_ADDRESS"]
    assert statuses == [302, 302, 302, 429]
    assert unknown == [302, 302, 302, 429]
    assert db.session.query(PortalAccess).filter_by(kind="magic_link").count() == 3


def test_rate_limit_per_ip(app, client, templates):
    app.config["PORTAL_LOGIN_LIMIT_PER_IP"] = "5 per hour"
    try:
        statuses = [_ask_link(client, f"person{i}@example.test").status_code for i in range(6)]
        refused = _ask_link(client, "y@example.test").get_data(as_text=True)
        other_ip = app.test_client()
        g.pop("csrf_token", None)
        page = other_ip.get("/portal/login", environ_base={"REMOTE_ADDR": "10.9.8.7"})
        elsewhere = other_ip.post("/portal/login", environ_base={"REMOTE_ADDR": "10.9.8.7"},
                                  data={"email": "x@example.test",
                                        "csrf_token": csrf_from(page.get_data(as_text=True))})
    finally:
        del app.config["PORTAL_LOGIN_LIMIT_PER_IP"]
    assert statuses == [302] * 5 + [429]
    assert "Too many attempts" in refused
    assert elsewhere.status_code == 302


def test_bad_email_is_refused_with_a_message(client):
    response = _ask_link(client, "not an address")
    assert response.status_code == 400
    assert "not a valid e-mail address" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(client, templates):
    make_customer(email="csrf@example.test")
    response = client.post("/portal/login", data={"email": "csrf@example.test"})
    assert response.status_code == 400
    assert db.session.query(PortalAccess).count() == 0


def test_confirm_and_logout_without_csrf_token_are_refused(client, templates):
    make_customer(email="csrf2@example.test")
    _ask_link(client, "csrf2@example.test")
    link = last_login_link()
    assert client.post(link, data={}).status_code == 400
    assert client.get("/portal/").status_code == 302  # not signed in
    page = client.get(link).get_data(as_text=True)
    client.post(link, data={"csrf_token": csrf_from(page)})
    assert client.get("/portal/").status_code == 200
    assert client.post("/portal/logout", data={}).status_code == 400
    assert client.get("/portal/").status_code == 200  # still signed in


def test_logout_ends_the_session_even_for_a_copied_cookie(app, portal_client):
    customer = make_customer(email="bye@example.test")
    client = portal_client(customer)
    stolen = client.get_cookie("session").value
    page = client.get("/portal/").get_data(as_text=True)
    response = client.post("/portal/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert "signed out" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get("/portal/").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/portal/").status_code == 302


def test_idle_timeout(app, portal_client):
    customer = make_customer(email="idle@example.test")
    client = portal_client(customer)
    assert client.get("/portal/").status_code == 200
    row = db.session.query(PortalAccess).filter_by(kind="session").one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/portal/invoices")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]
    assert "without activity" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_activity_extends_the_session(app, portal_client):
    customer = make_customer(email="active@example.test")
    client = portal_client(customer)
    row = db.session.query(PortalAccess).filter_by(kind="session").one()
    row.expires_at = utcnow() + timedelta(minutes=2)
    db.session.commit()
    assert client.get("/portal/").status_code == 200
    db.session.refresh(row)
    assert row.expires_at > utcnow() + timedelta(minutes=25)


def test_session_cookie_flags(app, templates):
    make_customer(email="cookie@example.test")
    client = app.test_client()
    sign_in(client, "cookie@example.test")
    cookie = client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"


# --- behind a reverse proxy (TRUSTED_PROXY_COUNT, ProxyFix in create_app) -----------------------

PROXY = {"REMOTE_ADDR": "10.0.0.1"}  # the proxy's own address, the same for every client


def _ask_link_via_proxy(app, email, client_ip, proto="https"):
    client = _fresh_client(app)
    headers = {"X-Forwarded-For": client_ip, "X-Forwarded-Proto": proto}
    page = client.get("/portal/login", headers=headers, environ_base=PROXY)
    # A browser sends the page it posts from (Referrer-Policy same-origin), which Flask-WTF
    # checks over HTTPS.
    response = client.post("/portal/login", environ_base=PROXY,
                           headers={**headers, "Referer": f"{proto}://localhost/portal/login"},
                           data={"email": email,
                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    return page, response


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_behind_a_trusted_proxy_the_login_limit_counts_the_forwarded_ip(app, templates):
    make_customer(email="proxied@example.test")
    app.config.update(TRUSTED_PROXY_COUNT=1, PORTAL_LOGIN_LIMIT_PER_IP="2 per hour")
    try:
        first = [_ask_link_via_proxy(app, "proxied@example.test", "203.0.113.5")[1].status_code
                 for _ in range(3)]
        # Another client behind the same proxy is not refused because of the first one.
        other = _ask_link_via_proxy(app, "someone@example.test", "198.51.100.20")[1]
    finally:
        app.config["TRUSTED_PROXY_COUNT"] = 0
        del app.config["PORTAL_LOGIN_LIMIT_PER_IP"]
    assert first == [302, 302, 429]
    assert other.status_code == 302
    # The sign-in link records the client's address, not the proxy's.
    ips = {row.ip for row in db.session.query(PortalAccess).filter_by(kind="magic_link")}
    assert ips == {"203.0.113.5"}


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(app, templates):
    """A client cannot pick its address (nor pretend HTTPS) by sending the headers itself."""
    app.config["PORTAL_LOGIN_LIMIT_PER_IP"] = "2 per hour"
    try:
        statuses = [_ask_link_via_proxy(app, f"spoof{n}@example.test", f"203.0.113.{n}")[1]
                    .status_code for n in range(3)]
        page, _response = _ask_link_via_proxy(app, "x@example.test", "203.0.113.99")
    finally:
        del app.config["PORTAL_LOGIN_LIMIT_PER_IP"]
    assert statuses == [302, 302, 429]
    assert "; Secure" not in _session_cookie(page)


def test_session_cookie_is_secure_over_https_behind_the_proxy(app, templates):
    app.config["TRUSTED_PROXY_COUNT"] = 1
    try:
        https_page, _ = _ask_link_via_proxy(app, "c1@example.test", "203.0.113.7", "https")
        http_page, _ = _ask_link_via_proxy(app, "c2@example.test", "203.0.113.8", "http")
    finally:
        app.config["TRUSTED_PROXY_COUNT"] = 0
    secure = _session_cookie(https_page)
    assert "; Secure" in secure and "; HttpOnly" in secure and "SameSite=Lax" in secure
    plain = _session_cookie(http_page)
    assert "; Secure" not in plain and "; HttpOnly" in plain and "SameSite=Lax" in plain


def test_secure_cookie_setting_forces_secure_even_over_http(app, templates):
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        page = _fresh_client(app).get("/portal/login")
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
    assert "; Secure" in _session_cookie(page)


def test_staff_login_is_not_a_portal_login(staff_client):
    staff = staff_client("Admin")
    assert staff.get("/portal/").status_code == 302


def test_after_sign_in_the_requested_page_opens(app, client, templates):
    customer = make_customer(email="next@example.test")
    response = client.get("/portal/statement")
    assert response.status_code == 302 and "next=" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    next_value = re.search(r'name="next" type="hidden" value="([^"]*)"', page).group(1)
    assert next_value == "/portal/statement"
    client.post("/portal/login", data={"email": customer.email, "next": next_value,
                                       "csrf_token": csrf_from(page)})
    link = last_login_link()
    confirm = client.get(link).get_data(as_text=True)
    done = client.post(link, data={"csrf_token": csrf_from(confirm)})
    assert done.headers["Location"] == "/portal/statement"


def test_no_open_redirect_after_sign_in():
    assert portal_access.safe_target("https://evil.example/portal/") is None
    assert portal_access.safe_target("//evil.example/portal/") is None
    assert portal_access.safe_target("/portal//evil.example") is None
    assert portal_access.safe_target("/admin/") is None
    assert portal_access.safe_target("/portal/invoices/3?x=1") == "/portal/invoices/3?x=1"


def test_language_switch_does_not_redirect_elsewhere(client):
    response = client.get("/portal/language/nl?next=https://evil.example/")
    assert response.status_code == 302 and response.headers["Location"] == "/portal/"


def test_deep_link_asks_for_a_fresh_magic_link_then_opens_its_page(app, client, templates):
    from tests.helpers import make_invoice

    customer = make_customer(email="deep@example.test")
    invoice = make_invoice(customer)
    with app.test_request_context():
        url = links.portal_link(customer, links.portal_path("invoice", invoice_id=invoice.id))
    db.session.commit()
    path = re.sub(r"^https?://[^/]+", "", url)
    assert path.startswith("/portal/go/")
    page = client.get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "d•••@example.test" in text
    assert client.get("/portal/").status_code == 302  # the deep link alone signs nobody in
    sent = client.post(path, data={"csrf_token": csrf_from(text)})
    assert sent.status_code == 302
    link = last_login_link("deep@example.test")
    confirm = client.get(link).get_data(as_text=True)
    done = client.post(link, data={"csrf_token": csrf_from(confirm)})
    assert done.headers["Location"] == f"/portal/invoices/{invoice.id}"
    assert invoice.number in client.get(done.headers["Location"]).get_data(as_text=True)
    # Signed in, the same deep link goes straight to its page.
    again = client.get(path)
    assert again.status_code == 302 and again.headers["Location"] == f"/portal/invoices/{invoice.id}"


def test_expired_deep_link(app, client):
    customer = make_customer(email="olddeep@example.test")
    url = links.portal_link(customer, "/portal/", valid_days=1)
    access = db.session.query(PortalAccess).filter_by(kind="deep_link").one()
    access.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert client.get(re.sub(r"^https?://[^/]+", "", url)).status_code == 410


def test_sign_in_mail_goes_out_without_a_template(client):
    """Staff deleted the template: the built-in text is sent, in the person's language."""
    make_customer(email="notemplate@example.test")
    client.get("/portal/language/nl")
    _ask_link(client, "notemplate@example.test")
    message = db.session.query(Message).filter_by(event="magic_link").one()
    assert "/portal/login/" in message.body_text
    assert message.recipient == "notemplate@example.test"


def test_anonymised_customer_cannot_sign_in(client, templates):
    customer = make_customer(email="gone@example.test")
    customer.anonymised_at = utcnow()
    db.session.commit()
    _ask_link(client, "gone@example.test")
    assert db.session.query(PortalAccess).count() == 0
