"""CSRF, app-wide: every registered route, with each state-changing method it accepts, posted
by a signed-in Admin (and a signed-in portal customer, on the same browser) without a CSRF
token, changes no row of any table and never answers 2xx. Routes added later are crawled too.
"""
from __future__ import annotations

from app.core.web_security import CSRF_EXEMPT_ENDPOINTS
from app.extensions import db
from tests.helpers import make_customer, make_invoice
from tests.security.crawl import (
    STATE_CHANGING,
    changed,
    crawl_routes,
    page_token,
    portal_sign_in,
    row_counts,
)


def test_no_state_change_without_a_csrf_token_on_any_route(app, admin_and_customer):
    client = admin_and_customer
    routes = crawl_routes(app)
    assert len(routes) > 300  # the whole back office, portal and API, not a sample
    before = row_counts()
    failures, crawled = [], 0
    for route in routes:
        for method in STATE_CHANGING:
            if method not in route.methods:
                continue
            crawled += 1
            response = client.open(route.url, method=method, data={"name": "x", "id": "1"})
            after = row_counts()
            # The explicit exemptions (API sign-in, the provider's webhook) use no cookie: they
            # may answer, but change nothing for a forged request either.
            exempt = route.endpoint in CSRF_EXEMPT_ENDPOINTS
            if 200 <= response.status_code < 300 and not exempt:
                failures.append(f"{method} {route.url}: {response.status_code}")
            if after != before:
                failures.append(f"{method} {route.url} changed {changed(before, after)}")
                before = after
    assert crawled > 150
    assert not failures, "\n".join(failures)
    # The Admin is still signed in (logout without a token was refused, too).
    assert client.get("/customerview/list/").status_code == 200


def test_fab_delete_and_action_refuse_get(app, admin_and_customer):
    """`GET /invoiceview/delete/<id>` and `GET /mandateview/action/<name>/<id>` (the probe's
    requests) are 405 on every CRUD view, whatever rows exist."""
    client = admin_and_customer
    routes = [r for r in crawl_routes(app)
              if r.endpoint.rpartition(".")[2] in ("delete", "action") and "GET" in r.methods]
    assert len(routes) > 30
    before = row_counts()
    for route in routes:
        response = client.get(route.url)
        assert response.status_code == 405, route.url
        assert "POST" in response.headers.get("Allow", "")
    assert row_counts() == before


def test_delete_with_a_token_still_works(app, staff_client):
    """The defence refuses forged requests, not staff's own: the list's delete form posts the
    page's token and deletes."""
    from app.customers.models import Contact

    customer = make_customer()
    contact = Contact(customer=customer, name="Marie Dupont", email="marie@example.test")
    db.session.add(contact)
    db.session.commit()
    client = staff_client("Admin")
    page = client.get("/contactview/list/").get_data(as_text=True)
    assert f'/contactview/delete/{contact.id}' in page
    assert client.get(f"/contactview/delete/{contact.id}").status_code == 405
    assert client.post(f"/contactview/delete/{contact.id}").status_code == 400
    assert db.session.get(Contact, contact.id) is not None
    response = client.post(f"/contactview/delete/{contact.id}",
                           data={"csrf_token": page_token(page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id) is None


def test_bulk_action_needs_the_token(app, staff_client):
    customer = make_customer()
    invoice = make_invoice(customer)
    client = staff_client("Admin")
    before = row_counts()
    response = client.post("/invoiceview/action_post",
                           data={"action": "delete", "rowid": [str(invoice.id)]})
    assert response.status_code == 400
    assert row_counts() == before


def test_refusal_page_says_nothing_changed(app, staff_client):
    customer = make_customer()
    client = staff_client("Admin")
    response = client.post(f"/customerview/delete/{customer.id}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The form has expired or was not sent from this page" in html
    assert "Nothing was changed" in html


def test_staff_logout_is_a_post_with_a_token(app, staff_client):
    client = staff_client("Admin")
    home = client.get("/").get_data(as_text=True)
    assert 'method="post" action="/logout/"' in home  # the navbar's logout is a form
    page = client.get("/logout/")  # a link or an <img> signs nobody out
    assert page.status_code == 200 and 'id="logout-form"' in page.get_data(as_text=True)
    assert client.get("/customerview/list/").status_code == 200
    assert client.post("/logout/").status_code == 400  # forged: no token
    assert client.get("/customerview/list/").status_code == 200
    response = client.post("/logout/", data={"csrf_token": page_token(home)})
    assert response.status_code == 302
    assert client.get("/customerview/list/").status_code == 302  # signed out


def test_api_with_a_session_cookie_needs_the_token_with_a_bearer_token_not(app, staff_client):
    """The API is exempt only for calls authenticated by a token: a browser cannot add an
    Authorization header cross-site; the session cookie it does send is not enough."""
    make_customer(number="C-API-1")
    client = staff_client("Admin")
    response = client.put("/api/v1/customers/C-API-1", json={"name": "Forged"})
    assert response.status_code == 400
    assert response.is_json and "form has expired" in response.get_json()["message"]
    # With a token, CSRF does not apply (the token is checked by the API: 401 for a bad one).
    response = client.put("/api/v1/customers/C-API-1", json={"name": "Forged"},
                          headers={"Authorization": "Bearer not-a-valid-jwt"})
    assert response.status_code in (401, 422)
    from app.customers.models import Customer

    db.session.expire_all()
    assert db.session.query(Customer).filter_by(number="C-API-1").one().name != "Forged"


def test_portal_refusal_keeps_the_portal_page(app):
    """A portal form posted without its token gets the portal's own refusal page (400), from
    the app-wide check, once."""
    customer = make_customer(email="csrf-portal@example.test")
    client = app.test_client()
    portal_sign_in(client, customer)
    response = client.post("/portal/profile", data={"phone": "+32470000000"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "did not come from this site" in html
    assert 'href="/portal/' in html  # the portal's layout, not a staff page


def test_https_post_from_another_site_is_refused_even_with_a_token(app, staff_client):
    """Over HTTPS Flask-WTF also checks the Referer (our pages send it to our own host only:
    Referrer-Policy same-origin)."""
    customer = make_customer()
    client = staff_client("Admin")
    page = client.get("/customerview/list/").get_data(as_text=True)
    token = page_token(page)
    response = client.post(f"/customerview/delete/{customer.id}", data={"csrf_token": token},
                           base_url="https://localhost",
                           headers={"Referer": "https://attacker.example/x"})
    assert response.status_code == 400
    from app.customers.models import Customer

    assert db.session.get(Customer, customer.id) is not None
