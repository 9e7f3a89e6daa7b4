"""The "place of yes": approval limits per role and kind, from settings."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.approvals import (
    approval_limit,
    check_approval,
    may_approve,
    refusal_message,
)
from app.core.roles import ADMIN, AR_CLERK, COMPLIANCE_OFFICER, CREDIT_MANAGER, READ_ONLY
from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.extensions import db
from tests.helpers import make_staff_user

D = Decimal


@pytest.mark.parametrize("kind,clerk,manager", [
    ("refund", "250.00", "2500.00"), ("credit_note", "100.00", "1000.00"),
    ("write_off", "50.00", "500.00")])
def test_default_limits_per_role(app, kind, clerk, manager):
    ar_clerk = make_staff_user(app, AR_CLERK)
    credit_manager = make_staff_user(app, CREDIT_MANAGER)
    admin = make_staff_user(app, ADMIN)
    assert may_approve(ar_clerk, kind, D(clerk))
    assert not may_approve(ar_clerk, kind, D(clerk) + D("0.01"))
    assert may_approve(credit_manager, kind, D(clerk) + D("0.01"))
    assert may_approve(credit_manager, kind, D(manager))
    assert not may_approve(credit_manager, kind, D(manager) + D("0.01"))
    assert may_approve(admin, kind, D("1000000"))
    assert approval_limit(admin, kind) is None


@pytest.mark.parametrize("role", [READ_ONLY, COMPLIANCE_OFFICER])
def test_roles_without_a_limit_approve_nothing(app, role):
    user = make_staff_user(app, role)
    assert not may_approve(user, "refund", D("0.01"))
    with pytest.raises(ValidationError) as refused:
        check_approval(user, "refund", D("1.00"))
    assert "refunds" in str(refused.value)


def test_limits_are_settings_staff_change(app):
    clerk = make_staff_user(app, AR_CLERK)
    assert not may_approve(clerk, "refund", D("300.00"))
    set_setting("approvals.refund.ar_clerk_max", "400")
    db.session.commit()
    assert may_approve(clerk, "refund", D("300.00"))


def test_refusal_names_the_limit(app):
    clerk = make_staff_user(app, AR_CLERK)
    message = refusal_message(clerk, "write_off", D("75.00"))
    assert "50" in message and "75" in message
    with pytest.raises(ValidationError) as refused:
        check_approval(clerk, "write_off", D("75.00"))
    assert refused.value.errors == {"amount": [message]}
