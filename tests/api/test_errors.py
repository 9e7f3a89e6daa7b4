"""The shared write helper: a unique-key race is retried once, then reported as a conflict."""
import pytest

from app.api.errors import ApiError, commit
from app.customers.models import Customer
from app.customers.services import clean_customer, find_by_number, upsert_customer
from app.extensions import db
from tests.api.support import count
from tests.helpers import make_customer


def test_a_lost_race_is_retried_and_finds_the_winners_row():
    make_customer(number="C1", name="Winner")
    attempts = []

    def operation():
        attempts.append(1)
        if len(attempts) == 1:
            # What a concurrent request's INSERT of the same number looks like to us.
            db.session.add(Customer(number="C1", name="Loser", balance=0))
            return None
        return upsert_customer(clean_customer({"number": "C1", "name": "Second try"}))

    commit(operation)
    assert len(attempts) == 2
    assert find_by_number("C1").name == "Second try"
    assert count(Customer) == 1


def test_a_race_lost_twice_is_a_409_and_changes_nothing():
    make_customer(number="C1", name="Winner")

    def operation():
        db.session.add(Customer(number="C1", name="Loser", balance=0))

    with pytest.raises(ApiError) as raised:
        commit(operation)
    assert raised.value.status == 409
    assert find_by_number("C1").name == "Winner"
