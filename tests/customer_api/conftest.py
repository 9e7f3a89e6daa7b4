"""Customer API fixtures: customers with invoices, keys made through the real service."""
from __future__ import annotations

import pytest

from app.core.settings import set_setting
from app.customer_api import keys
from app.extensions import db
from tests.helpers import make_customer, make_invoice
from tests.requests.self_service_support import same_day  # noqa: F401


@pytest.fixture(autouse=True)
def _api_setup(app, same_day):  # noqa: F811
    from app.customer_api import ratelimit
    from app.notifications.defaults import install_defaults

    install_defaults()
    set_setting("company.name", "Zeta Energie NV")
    set_setting("company.iban", "BE68539007547034")
    db.session.commit()
    ratelimit._local.clear()
    keys._unwritten.clear()  # uses counted in this process belong to the test that made them
    previous = {k: app.config.get(k) for k in ("CUSTAPI_WEBHOOK_ALLOW_PRIVATE",
                                               "CUSTAPI_RATE_LIMIT")}
    app.config["CUSTAPI_WEBHOOK_ALLOW_PRIVATE"] = True
    yield
    app.config.update(previous)
    ratelimit._local.clear()


class Api:
    """A test client that sends the key, and the customer and invoices behind it."""

    def __init__(self, client, customer, secret, invoices):
        self.client, self.customer, self.secret, self.invoices = client, customer, secret, invoices

    def headers(self, extra=None, key=None):
        return {"Authorization": f"Bearer {key or self.secret}", **(extra or {})}

    def get(self, path, key=None, **kw):
        headers = self.headers(kw.pop("headers", None), key)
        return self.client.get("/api/customer/v1" + path, headers=headers, **kw)

    def post(self, path, json=None, idem="k1", key=None, **kw):
        extra = kw.pop("headers", {})
        if idem:
            extra["Idempotency-Key"] = idem
        return self.client.post("/api/customer/v1" + path, json=json,
                                headers=self.headers(extra, key), **kw)


def make_api(client, scope="act", **customer_fields):
    customer = make_customer(language="en", **customer_fields)
    overdue = make_invoice(customer, total="300.00", due_in_days=-10, description="Boiler")
    upcoming = make_invoice(customer, total="150.00", due_in_days=20)
    made = keys.create_key(customer, "Books", scope, actor="test")
    db.session.commit()
    return Api(client, customer, made.secret, [overdue, upcoming])


@pytest.fixture
def api(client):
    return make_api(client)


@pytest.fixture
def other(client):
    return make_api(client, name="Someone Else")
