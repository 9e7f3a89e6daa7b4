"""A request that only read ends its transaction with COMMIT (so psycopg keeps the queries it
prepared); a request that wrote anything it did not commit itself still loses it, as before."""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text, update

from app.core import read_transactions
from app.customers.models import Customer
from app.extensions import db
from tests.conftest import is_postgres


@pytest.fixture
def customer(app):
    row = Customer(number="RT-1", name="Before")
    db.session.add(row)
    db.session.commit()
    return row.id


@pytest.fixture
def mini(app):
    """A small app on the same database and the same transaction handling, with routes that
    read, or write and forget to commit."""
    mini = Flask("read_transactions_test")
    mini.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       SQLALCHEMY_ENGINE_OPTIONS=app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    db.init_app(mini)
    read_transactions.init_app(mini)
    ends = {"commit": 0, "rollback": 0}

    @mini.get("/read")
    def read():
        return str(db.session.scalar(select(func.count(Customer.id))))

    @mini.get("/flush-then-refuse")
    def flush_then_refuse():
        db.session.get(Customer, int(_arg())).name = "Flushed"
        db.session.flush()
        return "refused", 400  # no commit, no rollback: the teardown must not commit it

    @mini.get("/update-on-connection")
    def update_on_connection():
        db.session.connection().execute(update(Customer).values(name="Core"))
        return "ok"

    @mini.get("/unflushed")
    def unflushed():
        db.session.get(Customer, int(_arg())).name = "Pending"
        return "ok"

    @mini.get("/raise")
    def raise_after_flush():
        db.session.get(Customer, int(_arg())).name = "Raised"
        db.session.flush()
        raise RuntimeError("boom")

    with mini.app_context():
        engine = db.engine
    event.listen(engine, "commit", lambda _c: ends.__setitem__("commit", ends["commit"] + 1))
    event.listen(engine, "rollback", lambda _c: ends.__setitem__("rollback", ends["rollback"] + 1))
    mini.ends = ends
    yield mini
    with mini.app_context():
        db.engine.dispose()


def _arg() -> str:
    from flask import request

    return request.args["id"]


def _name(customer_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Customer, customer_id).name


def test_a_request_that_only_read_commits(mini, customer):
    client = mini.test_client()
    assert client.get("/read").text == "1"
    assert mini.ends["commit"] == 1


@pytest.mark.parametrize("path", ["/flush-then-refuse", "/update-on-connection", "/unflushed"])
def test_a_write_nobody_committed_is_still_rolled_back(mini, customer, path):
    response = mini.test_client().get(f"{path}?id={customer}")
    assert response.status_code in (200, 400)
    assert _name(customer) == "Before"
    assert mini.ends["commit"] == 0


def test_a_request_that_failed_is_rolled_back(mini, customer):
    mini.config["PROPAGATE_EXCEPTIONS"] = False
    assert mini.test_client().get(f"/raise?id={customer}").status_code == 500
    assert _name(customer) == "Before"
    assert mini.ends["commit"] == 0


def test_a_session_on_an_engine_nobody_watches_is_left_to_the_rollback(mini, customer):
    """Its writes would not be seen: whatever it did, it is not committed."""
    from sqlalchemy import create_engine

    other = create_engine(mini.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with mini.app_context():
            connection = db.session.connection(bind_arguments={"bind": other})
            assert connection.engine is other
            connection.execute(update(Customer).values(name="Unwatched"))
        assert _name(customer) == "Before"
    finally:
        other.dispose()


@pytest.mark.skipif(not is_postgres(), reason="prepared statements are PostgreSQL's")
def test_queries_stay_prepared_from_one_request_to_the_next(mini, customer):
    client = mini.test_client()
    for _ in range(8):  # psycopg prepares a query on its 5th run
        assert client.get("/read").text == "1"
    with mini.app_context():
        prepared = db.session.scalar(text("select count(*) from pg_prepared_statements"))
        db.session.rollback()
    assert prepared >= 1
