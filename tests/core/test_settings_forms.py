"""Settings → Business rules over HTTP: every group per role (read, change, refused), bad
input (nothing saved, the typed text kept, never a 500), the audit trail (old → new, who),
back to the default, and a rule changed later never undoes a decision taken under the old one."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.audit_models import AuditEvent
from app.core.models import Setting
from app.core.roles import (
    ADMIN,
    AR_CLERK,
    COMPLIANCE_OFFICER,
    CREDIT_MANAGER,
    ERP_INTEGRATION,
    READ_ONLY,
)
from app.core.settings import GROUPS, get_setting, is_customised, set_setting
from app.extensions import db
from tests.helpers import csrf_token

# One setting per group, what a person types, and the value it becomes.
SAMPLES = {
    "company": ("company.phone", "+32 2 999 88 77", "+32 2 999 88 77"),
    "portal": ("self_service.deferral.max_amount", "250,50", Decimal("250.50")),
    "requests": ("requests.sla_due_soon_hours", "6", 6),
    "dunning": ("dunning.minimum_amount", "7,50", Decimal("7.50")),
    "approvals": ("approvals.refund.ar_clerk_max", "300", Decimal("300.00")),
    "messages": ("dunning.sms_quiet_hours", "22h-7h", "22:00-07:00"),
    "retention": ("retention.batch_size", "400", 400),
}
MAY_CHANGE = {
    "company": {ADMIN, CREDIT_MANAGER}, "portal": {ADMIN, CREDIT_MANAGER},
    "requests": {ADMIN, CREDIT_MANAGER}, "dunning": {ADMIN, CREDIT_MANAGER},
    "approvals": {ADMIN}, "messages": {ADMIN, CREDIT_MANAGER},
    "retention": {ADMIN, COMPLIANCE_OFFICER},
}
READERS = (ADMIN, CREDIT_MANAGER, AR_CLERK, COMPLIANCE_OFFICER, READ_ONLY)


def test_the_samples_cover_every_group():
    assert set(SAMPLES) == set(GROUPS) == set(MAY_CHANGE)


@pytest.mark.parametrize("role", READERS)
def test_every_group_opens_for_every_staff_role_editable_only_for_who_may_change_it(
        staff_client, role):
    client = staff_client(role)
    index = client.get("/settings/rules/")
    assert index.status_code == 200
    for group in GROUPS:
        assert f"/settings/rules/{group}" in index.get_data(as_text=True)
        page = client.get(f"/settings/rules/{group}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200, (role, group)
        key = SAMPLES[group][0]
        assert f'name="{key}"' in html, (role, group)
        assert ('id="save-settings"' in html) == (role in MAY_CHANGE[group]), (role, group)
        assert ('id="read-only"' in html) == (role not in MAY_CHANGE[group]), (role, group)


def test_the_erp_integration_account_does_not_see_the_rules(staff_client):
    client = staff_client(ERP_INTEGRATION)
    response = client.get("/settings/rules/portal")
    assert response.status_code in (302, 403)
    assert 'name="self_service.deferral.max_amount"' not in response.get_data(as_text=True)


def _post(client, group: str, data: dict):
    page = client.get(f"/settings/rules/{group}").get_data(as_text=True)
    return client.post(f"/settings/rules/{group}", data={**data,
                                                           "csrf_token": csrf_token(page)})


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("group", list(SAMPLES))
def test_changing_each_group_per_role(staff_client, role, group):
    key, typed, expected = SAMPLES[group]
    client = staff_client(role)
    response = _post(client, group, {key: typed})
    db.session.expire_all()
    if role in MAY_CHANGE[group]:
        assert response.status_code == 302, (role, group)
        assert get_setting(key) == expected
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "setting_change"))
        assert event.entity_id == key and event.actor == client_username(role)
        assert "→" in event.detail
    else:
        assert response.status_code == 400, (role, group)
        assert "You may not change this setting." in response.get_data(as_text=True)
        assert not is_customised(key)
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "setting_change")) is None


def client_username(role: str) -> str:
    import re

    return re.sub(r"\W", "_", role.lower())


def test_the_audit_trail_keeps_old_and_new_and_who(staff_client):
    client = staff_client(CREDIT_MANAGER)
    _post(client, "portal", {"self_service.deferral.max_amount": "1 234,50"})
    _post(client, "portal", {"self_service.deferral.max_amount": "250.50"})
    details = db.session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == "setting_change").order_by(AuditEvent.id)).all()
    assert details == ["self_service.deferral.max_amount: 1000.00 → 1234.50",
                       "self_service.deferral.max_amount: 1234.50 → 250.50"]
    actors = set(db.session.scalars(select(AuditEvent.actor).where(
        AuditEvent.action == "setting_change")))
    assert actors == {"credit_manager"}


def test_an_unchanged_form_stores_nothing(staff_client):
    client = staff_client(ADMIN)
    page = client.get("/settings/rules/dunning").get_data(as_text=True)
    import re

    fields = dict(re.findall(r'<input class="form-control" name="([^"]+)" id="[^"]+" value="([^"]*)"',
                             page))
    assert "dunning.minimum_amount" in fields and fields["dunning.minimum_amount"] == "5.00"
    response = client.post("/settings/rules/dunning", data={**fields,
                                                            "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert db.session.scalar(select(Setting.id)) is None


def test_the_form_shows_the_default_and_marks_a_changed_value_with_a_way_back(staff_client):
    set_setting("self_service.deferral.max_amount", "250.50")
    db.session.commit()
    client = staff_client(CREDIT_MANAGER)
    client.get("/lang/fr")
    html = client.get("/settings/rules/portal").get_data(as_text=True)
    row = html[html.index('id="row-self_service-deferral-max_amount"'):]
    row = row[:row.index("</div>\n  \n") if "</div>\n  \n" in row else 3000]
    assert 'value="250,50"' in row  # the French decimal comma
    shown = row.replace("\u202f", " ").replace("\xa0", " ")
    assert "1 000,00 €" in shown  # the default, as a French reader writes it
    assert "setting-changed" in row and "setting-reset" in row
    # a setting still on its default has no mark and no reset button
    other = html[html.index('id="row-self_service-deferral-max_days"'):]
    other = other[:other.index('class="form-group')]
    assert "setting-changed" not in other and "setting-reset" not in other


def test_back_to_the_default(staff_client):
    set_setting("self_service.deferral.max_amount", "250.50")
    db.session.commit()
    client = staff_client(CREDIT_MANAGER)
    page = client.get("/settings/rules/portal").get_data(as_text=True)
    response = client.post("/settings/rules/portal/reset/self_service.deferral.max_amount",
                           data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert not is_customised("self_service.deferral.max_amount")
    assert get_setting("self_service.deferral.max_amount") == Decimal("1000.00")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "setting_reset"))
    assert event.detail == "self_service.deferral.max_amount: 250.50 → 1000.00"
    assert event.actor == "credit_manager"


def test_reset_is_refused_to_who_may_not_change_and_for_a_key_of_another_group(staff_client):
    set_setting("approvals.refund.ar_clerk_max", "300")
    db.session.commit()
    client = staff_client(CREDIT_MANAGER)
    page = client.get("/settings/rules/approvals").get_data(as_text=True)
    token = csrf_token(page)
    client.post("/settings/rules/approvals/reset/approvals.refund.ar_clerk_max",
                data={"csrf_token": token})
    assert client.post("/settings/rules/portal/reset/approvals.refund.ar_clerk_max",
                       data={"csrf_token": token}).status_code == 404
    assert client.post("/settings/rules/portal/reset/no.such.key",
                       data={"csrf_token": token}).status_code == 404
    assert client.get("/settings/rules/nowhere").status_code == 404
    db.session.expire_all()
    assert get_setting("approvals.refund.ar_clerk_max") == Decimal("300.00")


@pytest.mark.parametrize("language, field_label", [
    ("en", "Deferral: approved at once up to this total open amount"),
    ("fr", None), ("nl", None)])
def test_bad_input_names_the_field_keeps_the_typed_text_and_saves_nothing(
        staff_client, language, field_label):
    client = staff_client(CREDIT_MANAGER)
    client.get(f"/lang/{language}")
    response = _post(client, "portal", {
        "self_service.deferral.max_amount": "douze euros",      # not an amount
        "self_service.deferral.max_days": "4000",               # out of range
        "self_service.plan.max_installments": "12",             # valid, but not saved either
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="douze euros"' in html and 'value="4000"' in html and 'value="12"' in html
    assert html.count("setting-error") >= 2
    if field_label:
        assert field_label in html and "Not saved" in html
    db.session.expire_all()
    assert db.session.scalar(select(Setting.id)) is None
    assert db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "setting_change")) is None


def test_a_malformed_iban_or_creditor_id_is_refused(staff_client):
    client = staff_client(ADMIN)
    response = _post(client, "company", {"company.iban": "BE05 0682 4613 7931",
                                         "company.creditor_id": "BE82ZZZ0123456749",
                                         "company.bic": "NOTABIC"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Not a valid IBAN" in html and "creditor identifier" in html and "BIC" in html
    assert 'value="BE05 0682 4613 7931"' in html
    db.session.expire_all()
    assert get_setting("company.iban") == "BE04068246137931"


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_every_group_renders_in_every_language(staff_client, language):
    client = staff_client(ADMIN)
    client.get(f"/lang/{language}")
    for group in GROUPS:
        assert client.get(f"/settings/rules/{group}").status_code == 200


def test_the_old_raw_rows_screen_is_no_longer_in_the_menu(staff_client):
    html = staff_client(ADMIN).get("/settings/rules/").get_data(as_text=True)
    assert "/settingview/list" not in html


def test_the_raw_rows_screen_checks_declared_keys_and_audits_them_too(staff_client):
    set_setting("self_service.deferral.max_amount", "500")
    db.session.commit()
    row_id = db.session.scalar(select(Setting.id))
    client = staff_client(ADMIN)
    page = client.get(f"/settingview/edit/{row_id}").get_data(as_text=True)
    response = client.post(f"/settingview/edit/{row_id}",
                           data={"value": '"-3"', "csrf_token": csrf_token(page)})
    assert response.status_code in (200, 302)
    db.session.expire_all()
    assert get_setting("self_service.deferral.max_amount") == Decimal("500.00")
    client.post(f"/settingview/edit/{row_id}", data={"value": '"750,5"',
                                                     "csrf_token": csrf_token(page)})
    db.session.expire_all()
    assert get_setting("self_service.deferral.max_amount") == Decimal("750.50")
    assert db.session.scalar(select(AuditEvent.detail).where(
        AuditEvent.action == "setting_change")) == \
        "self_service.deferral.max_amount: 500.00 → 750.50"


@pytest.mark.usefixtures("templates", "same_day")
def test_a_decision_taken_under_the_old_limit_stays(staff_client):
    from app.requests.plans import request_plan
    from tests.helpers import make_customer, make_invoice

    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="1500.00", due_in_days=-5)
    outcome = request_plan(customer, [invoice], 6, 10)
    db.session.commit()
    assert outcome.approved and outcome.plan.status == "active"
    # the tier that allowed it is lowered on the form: the plan keeps its approval
    client = staff_client(CREDIT_MANAGER)
    response = _post(client, "portal", {"self_service.plan.tier2_up_to": "1000",
                                        "self_service.plan.tier3_up_to": "0"})
    assert response.status_code == 302
    db.session.expire_all()
    assert outcome.plan.status == "active" and outcome.request.status == "approved"
    later = make_invoice(make_customer(language="en"), total="1500.00", due_in_days=-5)
    assert not request_plan(later.customer, [later], 6, 10).approved


from tests.requests.self_service_support import same_day, templates  # noqa: F401
