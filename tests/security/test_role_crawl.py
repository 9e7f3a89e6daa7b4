"""Who may open what, for every back-office page: each staff role of app/core/roles.py opens
every GET route; a route behind FAB's @has_access answers the roles FAB grants its permission
(2xx/3xx, never 403 or the login page) and refuses the others (403, or the login page). An
anonymous visitor gets no 2xx from any back-office page but the few public ones below."""
from __future__ import annotations

import pytest

from app.core.roles import STAFF_ROLES
from tests.helpers import logged_in_client, make_staff_user
from tests.security.crawl import crawl_routes, is_login_redirect, may_open, seed_dataset

# Back-office pages anyone may open: the sign-in page, the language switch (a redirect), the
# browser's icon, and the API description (the API itself needs a token, tests/api).
PUBLIC_ENDPOINTS = {"AuthDBView.login", "LocaleView.index", "OpenApi.get",
                    "DashboardIndexView.favicon"}


# Allowed, and still 404: the URL carries a secret the crawl cannot know.
SECRET_IN_URL = {"ImportView.preview"}


def back_office_get_routes(app):
    """GET pages of the back office; FAB's delete and action routes (405 on GET for everyone,
    tests/security/test_csrf_crawl.py) and its unused file downloads (404) are not pages."""
    security = app.extensions["creditdesk_security"]
    return [r for r in crawl_routes(app)
            if "GET" in r.methods and not r.is_portal and not r.is_api
            and r.endpoint.rpartition(".")[2] not in ("delete", "action")
            and r.endpoint not in security.unused_downloads]


@pytest.fixture
def dataset(app):
    return seed_dataset(app)


def _forget_login():
    from flask import g

    for name in ("_login_user", "user", "csrf_token"):
        g.pop(name, None)


def test_each_role_opens_exactly_what_it_is_granted(app, dataset):
    # One dataset for all roles: seeding it is most of the time on PostgreSQL. The users
    # first, so that /users/show/<id> is filled with a real id.
    users = {role: make_staff_user(app, role) for role in STAFF_ROLES}
    routes = back_office_get_routes(app)
    assert len(routes) > 150
    wrong = []
    for role in STAFF_ROLES:
        _forget_login()
        user = users[role]
        client = logged_in_client(app, role)
        checked = 0
        for route in routes:
            allowed = may_open(app, user, route.endpoint)
            if allowed is None:
                continue  # not behind @has_access: its own tests, and the anonymous crawl
            checked += 1
            response = client.get(route.url)
            response.close()
            refused = response.status_code == 403 or is_login_redirect(response)
            failed = response.status_code >= 400 and not (
                response.status_code == 404 and route.endpoint in SECRET_IN_URL)
            if allowed and (refused or failed):
                wrong.append(f"{role} may open {route.url} but got {response.status_code}")
            if not allowed and not refused:
                wrong.append(f"{role} may not open {route.url} but got {response.status_code}")
        assert checked > 150, role
    assert not wrong, "\n".join(wrong)


def test_anonymous_gets_no_back_office_page(app, dataset):
    client = app.test_client()
    served = []
    for route in back_office_get_routes(app):
        if route.endpoint in PUBLIC_ENDPOINTS:
            continue
        response = client.get(route.url)
        response.close()
        if 200 <= response.status_code < 300:
            served.append(f"{route.url}: {response.status_code}")
    assert not served, "\n".join(served)
