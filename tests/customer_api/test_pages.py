"""The portal's "Connected apps" page, the staff 360° section, and the calendar feed."""
from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from app.customer_api import keys
from app.customer_api.models import ApiKey, WebhookEndpoint
from app.extensions import db
from tests.backoffice.conftest import session_csrf
from tests.customer_api.conftest import make_api
from tests.portal.conftest import csrf_from, install_magic_link_templates, sign_in


def _portal(app, customer):
    install_magic_link_templates()
    client = app.test_client()
    sign_in(client, customer.email)
    return client


def test_customer_makes_uses_and_revokes_a_key_on_the_portal(app, client):
    owner = make_api(client)
    browser = _portal(app, owner.customer)
    page = browser.get("/portal/connected-apps")
    assert page.status_code == 200 and "Books" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    refused = browser.post("/portal/connected-apps/keys",
                           data={"csrf_token": token, "name": "", "scope": "read"})
    assert refused.status_code == 400
    made = browser.post("/portal/connected-apps/keys",
                        data={"csrf_token": token, "name": "Budget app", "scope": "read",
                              "days": "30"})
    html = made.get_data(as_text=True)
    secret = re.search(r'<code id="new-key">(cdk_[^<]+)</code>', html).group(1)
    assert owner.get("/balance", key=secret).status_code == 200
    # shown once: never again on the page
    assert secret not in browser.get("/portal/connected-apps").get_data(as_text=True)
    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "Budget app"))
    assert key.scope == "read" and (key.expires_at.date() - date.today()).days in (29, 30)
    listed = browser.get("/portal/connected-apps").get_data(as_text=True)
    assert "127.0.0.1" in listed  # last used from where
    browser.post(f"/portal/connected-apps/keys/{key.id}/revoke", data={"csrf_token": token})
    assert owner.get("/balance", key=secret).status_code == 401
    # another customer's key id: 404, nothing revoked
    stranger = make_api(client)
    theirs = db.session.scalar(select(ApiKey).where(ApiKey.customer_id ==
                                                    stranger.customer.id))
    assert browser.post(f"/portal/connected-apps/keys/{theirs.id}/revoke",
                        data={"csrf_token": token}).status_code == 404
    assert stranger.get("/balance").status_code == 200


def test_webhook_added_on_the_portal_shows_its_secret_once(app, client):
    owner = make_api(client)
    browser = _portal(app, owner.customer)
    token = csrf_from(browser.get("/portal/connected-apps").get_data(as_text=True))
    made = browser.post("/portal/connected-apps/webhooks",
                        data={"csrf_token": token, "url": "https://127.0.0.1:9/hook",
                              "events": ["payment.received", "reminder.sent"]})
    assert made.status_code == 200
    assert re.search(r'<code id="new-secret">whsec_', made.get_data(as_text=True))
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint.events == ["payment.received", "reminder.sent"]
    off = browser.post(f"/portal/connected-apps/webhooks/{endpoint.id}/disable",
                       data={"csrf_token": token})
    assert off.status_code == 302
    db.session.refresh(endpoint)
    assert not endpoint.enabled


def test_staff_see_and_revoke_keys_on_the_360_page(app, client, staff_client):
    owner = make_api(client)
    staff = staff_client("AR clerk")
    html = staff.get(f"/customer360/{owner.customer.id}").get_data(as_text=True)
    assert "c360-api-keys" in html and "Books" in html
    key = db.session.scalar(select(ApiKey))
    answer = staff.post(f"/customer360/{owner.customer.id}/api-keys/{key.id}/revoke",
                        data={"csrf_token": session_csrf(app, staff)})
    assert answer.status_code == 302
    assert owner.get("/balance").status_code == 401
    db.session.refresh(key)
    assert key.revoked_by == "staff ar_clerk"
    fresh = keys.create_key(owner.customer, "Second", "act", actor="test")
    db.session.commit()
    revoke_url = f"/api-keys/{fresh.key.id}/revoke"
    assert revoke_url in staff.get(f"/customer360/{owner.customer.id}").get_data(as_text=True)
    reader = staff_client("Read-only")
    assert revoke_url not in reader.get(f"/customer360/{owner.customer.id}").get_data(
        as_text=True)


def test_calendar_feed_lists_due_dates_and_stops(app, client):
    owner = make_api(client)
    browser = _portal(app, owner.customer)
    token = csrf_from(browser.get("/portal/connected-apps").get_data(as_text=True))
    made = browser.post("/portal/connected-apps/calendar", data={"csrf_token": token})
    url = re.search(r'<code id="new-calendar">([^<]+)</code>', made.get_data(as_text=True)).group(1)
    path = url[url.index("/api/"):]
    feed = client.get(path)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    text = feed.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.count("BEGIN:VEVENT") == 2
    due = date.today() + timedelta(days=20)
    assert f"DTSTART;VALUE=DATE:{due:%Y%m%d}" in text and owner.invoices[1].number in text
    assert client.get(path.replace(".ics", "x.ics")).status_code == 404
    browser.post("/portal/connected-apps/calendar", data={"csrf_token": token,
                                                          "action": "stop"})
    assert client.get(path).status_code == 404
