"""The stored rows screen (/settingview) changes a setting through the same rule as the
Business rules forms (change_stored_row -> change_settings): a forged POST to FAB's generic
edit cannot change what the person's role may not, nor store a value of the wrong type."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.models import Setting
from app.core.roles import ADMIN, CREDIT_MANAGER
from app.core.settings import change_stored_row, get_setting, load_declarations, set_setting
from app.core.validation import ValidationError
from app.extensions import db
from tests.helpers import csrf_for

LIMIT = "approvals.refund.credit_manager_max"  # the "place of yes": only the Admin changes it


@pytest.fixture(autouse=True)
def _declared():
    load_declarations()


def _row(key: str, value) -> Setting:
    set_setting(key, value)
    db.session.commit()
    return db.session.scalar(select(Setting).where(Setting.key == key))


def test_change_stored_row_applies_the_role_and_type_rules():
    row = _row(LIMIT, "1000")
    with pytest.raises(ValidationError) as refused:
        change_stored_row(row, "999999", {CREDIT_MANAGER})
    assert LIMIT in refused.value.errors
    with pytest.raises(ValidationError):
        change_stored_row(row, "a lot", {ADMIN})
    db.session.rollback()
    assert get_setting(LIMIT) == Decimal("1000.00")
    change_stored_row(row, "1500,50", {ADMIN})
    db.session.commit()
    assert get_setting(LIMIT) == Decimal("1500.50")


def test_a_key_no_code_declares_is_stored_as_given():
    row = Setting(key="left.by.an.older.version", value=1)
    db.session.add(row)
    db.session.commit()
    change_stored_row(row, {"any": "json"}, {CREDIT_MANAGER})
    db.session.commit()
    assert db.session.get(Setting, row.id).value == {"any": "json"}


def test_a_forged_edit_of_an_approval_limit_by_a_credit_manager_changes_nothing(staff_client):
    row_id = _row(LIMIT, "1000").id
    client = staff_client("Credit manager")
    response = client.post(f"/settingview/edit/{row_id}",
                           data={"value": '"999999"', "csrf_token": csrf_for(client)})
    assert response.status_code == 200
    assert "You may not change this setting." in response.get_data(as_text=True)
    db.session.expire_all()
    assert get_setting(LIMIT) == Decimal("1000.00")
    admin = staff_client("Admin")
    admin.post(f"/settingview/edit/{row_id}",
               data={"value": '"1200"', "csrf_token": csrf_for(admin)})
    db.session.expire_all()
    assert get_setting(LIMIT) == Decimal("1200.00")
