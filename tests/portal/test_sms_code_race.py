"""Issue 12, low items in the sign-in area: SMS-code tries cannot race past their limit, and the
portal's CSRF token is a new one after sign-in (session fixation)."""
from __future__ import annotations

import threading

import pytest
from flask import g

from app.core.validation import ValidationError
from app.customers.selfservice_models import SmsCode
from app.extensions import db
from app.selfservice import preferences
from tests.conftest import is_postgres
from tests.helpers import make_customer
from tests.portal.conftest import csrf_from, sign_in

PARALLEL = 12


@pytest.fixture(autouse=True)
def _templates(app):
    from app.notifications.defaults import install_defaults

    install_defaults()


def test_parallel_wrong_codes_get_no_more_tries_than_the_limit(app, monkeypatch):
    """12 wrong codes at the same instant (threads behind a barrier): 5 are checked, the rest
    are refused as too many; then even the right code is refused. Before the fix the check was
    read-then-write and 8 of 12 were evaluated."""
    monkeypatch.setattr("app.selfservice.preferences.secrets.randbelow", lambda _n: 246810)
    customer = make_customer(email="race@example.test", phone="+32470000001")
    preferences.send_sms_code(customer, "+32470000001")
    db.session.commit()
    customer_id = customer.id
    barrier = threading.Barrier(PARALLEL)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        with app.app_context():
            from app.customers.models import Customer

            who = db.session.get(Customer, customer_id)
            pending = preferences.pending_sms_code(who)  # read before the others write
            assert pending is not None
            barrier.wait(timeout=30)
            try:
                preferences.confirm_sms_code(who, f"{100000 + n}")
                result = "accepted"
            except ValidationError as error:
                text = str(error.errors["code"][0])
                result = "checked" if "not right" in text else "refused"
            except Exception as error:  # noqa: BLE001 (SQLite: "database is locked" under load)
                db.session.rollback()
                result = f"error: {error}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    errors = [o for o in outcomes if o.startswith("error")]
    if errors and not is_postgres():
        pytest.skip(f"SQLite refused parallel writers: {errors[0]}")
    assert not errors, errors
    assert outcomes.count("checked") == 5, outcomes
    assert outcomes.count("refused") == PARALLEL - 5
    db.session.expire_all()
    row = db.session.query(SmsCode).filter_by(customer_id=customer_id).one()
    assert row.attempts == 5 and row.used_at is None
    with pytest.raises(ValidationError) as refused:
        preferences.confirm_sms_code(customer, "246810")
    assert "Too many" in str(refused.value.errors["code"][0])


def test_the_right_code_counts_once_and_works_once(app, monkeypatch):
    monkeypatch.setattr("app.selfservice.preferences.secrets.randbelow", lambda _n: 135790)
    customer = make_customer(email="once@example.test")
    preferences.send_sms_code(customer, "+32470000002")
    db.session.commit()
    with pytest.raises(ValidationError):
        preferences.confirm_sms_code(customer, "000000")
    preferences.confirm_sms_code(customer, "135790")
    db.session.commit()
    assert customer.phone == "+32470000002" and customer.sms_reminders is True
    with pytest.raises(ValidationError):  # used: no second success
        preferences.confirm_sms_code(customer, "135790")


def test_the_csrf_token_is_new_after_sign_in(app, templates):
    """A token seen (or planted) before sign-in is worthless after it: session fixation."""
    make_customer(email="fixation@example.test")
    g.pop("csrf_token", None)
    client = app.test_client()
    before = csrf_from(client.get("/portal/login").get_data(as_text=True))
    sign_in(client, "fixation@example.test")
    g.pop("csrf_token", None)
    after = csrf_from(client.get("/portal/profile").get_data(as_text=True))
    assert after != before
    g.pop("csrf_token", None)
    # The old token no longer signs a form of the signed-in customer.
    refused = client.post("/portal/logout", data={"csrf_token": before})
    assert refused.status_code == 400
    g.pop("csrf_token", None)
    assert client.post("/portal/logout", data={"csrf_token": after}).status_code == 302
