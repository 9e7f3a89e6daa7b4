"""Fixtures shared by the url_map crawls."""
from __future__ import annotations

import pytest

from tests.helpers import logged_in_client
from tests.security.crawl import portal_sign_in, seed_dataset


@pytest.fixture
def admin_and_customer(app):
    """One browser signed in as an Admin and as a portal customer, on the seeded dataset."""
    from flask import g

    records = seed_dataset(app)
    for name in ("_login_user", "user", "csrf_token"):
        g.pop(name, None)
    client = logged_in_client(app, "Admin")
    portal_sign_in(client, records["customer"])
    return client
