"""A dunning policy customers follow is not deleted (check_policy_deletable), on its screen too."""
from __future__ import annotations

import pytest

from app.core.validation import ValidationError
from app.dunning.models import DunningPolicy
from app.dunning.services import check_policy_deletable
from app.extensions import db
from tests.helpers import csrf_for, make_customer


def _policy_with_a_customer():
    policy = DunningPolicy(name="Consumers BE", segment="consumer", country="BE")
    unused = DunningPolicy(name="Old one", segment="consumer", country="BE")
    db.session.add_all([policy, unused])
    db.session.flush()
    make_customer().dunning_policy_id = policy.id
    db.session.commit()
    return policy, unused


def test_a_followed_policy_is_not_deletable():
    policy, unused = _policy_with_a_customer()
    with pytest.raises(ValidationError) as refused:
        check_policy_deletable(policy)
    assert "1 customer follows this policy" in refused.value.errors["policy"][0]
    check_policy_deletable(unused)


def test_the_delete_button_goes_through_the_rule(staff_client):
    policy, unused = _policy_with_a_customer()
    policy_id, unused_id = policy.id, unused.id
    client = staff_client("Credit manager")
    client.post(f"/dunningpolicyview/delete/{policy_id}", data={"csrf_token": csrf_for(client)})
    assert "follows this policy" in client.get("/dunningpolicyview/list/").get_data(as_text=True)
    client.post(f"/dunningpolicyview/delete/{unused_id}", data={"csrf_token": csrf_for(client)})
    db.session.expire_all()
    assert db.session.get(DunningPolicy, policy_id) is not None
    assert db.session.get(DunningPolicy, unused_id) is None
