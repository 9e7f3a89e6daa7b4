"""Security headers: the back office sends the set the portal sends (one helper,
app/core/web_security.py), and FAB's pages still work under that policy in a real browser
(Playwright driving Debian's Chromium): no CSP violation, delete and logout by POST."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from tests.browser_support import TIMEOUT_MS, chromium, needs_chromium, sign_in_staff
from tests.helpers import make_customer, make_staff_user


def _common(response):
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_back_office_pages_send_the_headers(app, staff_client):
    customer = make_customer()
    client = staff_client("Admin")
    for url in ("/", "/customerview/list/", f"/customerview/show/{customer.id}",
                f"/customer360/{customer.id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        _common(response)
        csp = response.headers["Content-Security-Policy"]
        assert "http" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1] \
            .split(";")[0]
        assert response.headers["Cache-Control"] == "no-store"  # personal data
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP
        # Every inline script carries this response's nonce; no inline event handler.
        nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
        html = response.get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert f'nonce="{nonce}"' in tag, (url, tag)
        assert not re.search(r"\son(click|load|change|submit|error)=", html), url


def test_nonce_is_new_on_every_response(app, staff_client):
    client = staff_client("Admin")
    first = client.get("/").headers["Content-Security-Policy"]
    second = client.get("/").headers["Content-Security-Policy"]
    assert first != second


def test_static_files_stay_cacheable(app, client):
    response = client.get("/static/appbuilder/js/ab.js")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_over_https(app, staff_client):
    client = staff_client("Admin")
    response = client.get("/login/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    portal = client.get("/portal/login", base_url="https://localhost")
    assert portal.headers["Strict-Transport-Security"].startswith("max-age=")


def test_portal_and_back_office_share_the_set(app, client):
    portal = client.get("/portal/login")
    back_office = client.get("/login/")
    for response in (portal, back_office):
        _common(response)
        assert response.headers["Cache-Control"] == "no-store"
    # The portal has no inline script at all: no nonce, no 'unsafe-inline'.
    assert "script-src 'self';" in portal.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in portal.headers["Content-Security-Policy"]
    unknown = client.get("/portal/no-such-page")
    assert unknown.status_code == 404
    _common(unknown)


def test_api_answers_carry_nosniff_and_no_store(app, client):
    response = client.get("/api/v1/customers/C1")
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


# --- in a real browser ---------------------------------------------------------------------------

@pytest.mark.browser
@needs_chromium
def test_staff_pages_work_under_the_policy_in_a_browser(app, server):
    from playwright.sync_api import expect

    from app.customers.models import Contact

    customer = make_customer(name="Brasserie Dupont")
    contact = Contact(customer=customer, name="Marie Dupont", email="marie@example.test")
    db.session.add(contact)
    db.session.commit()
    contact_id = contact.id
    user = make_staff_user(app, "Admin")
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        # A missing favicon is the browser asking, not a page's resource.
        page.on("console", lambda m: problems.append(m.text) if m.type == "error"
                and "status of 404" not in m.text else None)
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));")
        sign_in_staff(page, server, user)
        for url in ("/customerview/list/", f"/customerview/show/{customer.id}", "/"):
            page.goto(f"{server}{url}")
            page.wait_for_load_state("networkidle")
            expect(page.locator("body")).to_contain_text("Brasserie Dupont" if url != "/"
                                                         else "CreditDesk")
        # FAB's delete button: its script (with the nonce) opens the confirmation, which
        # posts the hidden form with the page's token.
        page.goto(f"{server}/contactview/list/")
        page.locator(f"[id='btn-delete-/contactview/delete/{contact_id}']").click()
        page.locator("#modal-confirm .modal-footer .btn-primary, #modal-confirm-ok").first \
            .click()
        page.wait_for_load_state()
        db.session.expire_all()
        assert db.session.get(Contact, contact_id) is None
        # Logout is the navbar's POST form.
        page.locator(".navbar .dropdown-toggle .fa-user").click()
        page.locator("#cd-logout").click()
        page.wait_for_load_state()
        page.goto(f"{server}/customerview/list/")
        assert "/login/" in page.url
    assert not problems, problems
