"""Pay link fixtures: company bank details, fresh rate limits, a customer with a reminder."""
from __future__ import annotations

import re

import pytest
from flask import g

from app.core.settings import set_setting
from app.extensions import db
from tests.portal.conftest import portal_client, templates  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _fresh(app, _clean_database):
    from app.notifications.defaults import install_defaults
    from app.portal.auth import reset_rate_limits
    from app.portal.routes import forget_cached_company

    reset_rate_limits()
    forget_cached_company()
    install_defaults()
    set_setting("company.name", "Brasserie Lambic SRL")
    set_setting("company.iban", "BE68539007547034")
    set_setting("company.bic", "GKCCBEBB")
    db.session.commit()
    yield
    reset_rate_limits()


@pytest.fixture
def fresh_client(app):
    def make():
        g.pop("csrf_token", None)
        g.pop("pay_link", None)
        return app.test_client()

    return make


def token_path(url: str) -> str:
    match = re.search(r"(/portal/p/[A-Za-z0-9_.\-]+)", url)
    assert match, url
    return match.group(1)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
