"""Legal holds are set and changed through app.retention.holds (place_hold, change_hold): the
reason is required and who set the hold is recorded, on screen and against a forged POST."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.roles import COMPLIANCE_OFFICER
from app.core.validation import ValidationError
from app.extensions import db
from app.retention.holds import change_hold, held_among, place_hold
from app.retention.models import LegalHold
from tests.helpers import csrf_for, make_customer, make_staff_user


def test_place_hold_records_who_and_wants_a_reason(app):
    customer = make_customer()
    officer = make_staff_user(app, COMPLIANCE_OFFICER)
    with pytest.raises(ValidationError) as refused:
        place_hold(customer, "   ", None, officer)
    assert "reason" in refused.value.errors
    hold = place_hold(customer, "  Court case 2025/042 ", None, officer)
    db.session.commit()
    assert (hold.reason, hold.created_by_id) == ("Court case 2025/042", officer.id)
    assert held_among([customer.id]) == {customer.id}
    change_hold(hold, "Court case (closed)", None, hold.created_at)
    db.session.commit()
    assert held_among([customer.id]) == set()
    assert hold.created_by_id == officer.id


def test_a_forged_hold_form_cannot_name_who_set_it(app, staff_client):
    customer = make_customer()
    someone_else = make_staff_user(app, "Credit manager")
    officer = make_staff_user(app, COMPLIANCE_OFFICER)
    client = staff_client(COMPLIANCE_OFFICER)
    until = date.today() + timedelta(days=30)
    response = client.post("/legalholdview/add", data={
        "customer": str(customer.id), "reason": "  Insolvency file\n", "until": until.isoformat(),
        "created_by": str(someone_else.id), "created_by_id": str(someone_else.id),
        "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    hold = db.session.scalar(select(LegalHold))
    assert hold.created_by_id == officer.id and hold.until == until
    assert hold.reason == "Insolvency file"  # cleaned by place_hold, as every path gets it
    response = client.post(f"/legalholdview/edit/{hold.id}", data={
        "reason": "Insolvency file (updated)", "until": "", "released_at": "",
        "created_by_id": str(someone_else.id), "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    db.session.expire_all()
    hold = db.session.get(LegalHold, hold.id)
    assert hold.reason == "Insolvency file (updated)" and hold.until is None
    assert hold.created_by_id == officer.id


def test_a_hold_without_a_reason_is_refused_on_screen(staff_client):
    customer = make_customer()
    client = staff_client(COMPLIANCE_OFFICER)
    response = client.post("/legalholdview/add", data={
        "customer": str(customer.id), "reason": "  ", "csrf_token": csrf_for(client)})
    assert response.status_code == 200
    assert db.session.scalar(select(func.count(LegalHold.id))) == 0
