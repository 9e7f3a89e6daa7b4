"""The role permission matrix, proven over HTTP: what each role may open and change.

Allowed changes answer with a redirect after a real change in the database; refused ones answer
403 (a logged-in user without the right) and leave the database as it was.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.core.models import Setting
from app.core.roles import (
    ADMIN,
    AR_CLERK,
    COMPLIANCE_OFFICER,
    CREDIT_MANAGER,
    ERP_INTEGRATION,
    READ_ONLY,
    STAFF_ROLES,
)
from app.customers.models import Customer
from app.dunning.models import DunningPolicy
from app.extensions import db
from app.retention.models import RetentionRule
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer


def _customer_form(**values):
    form = {"name": "Changed name", "kind": "person", "language": "nl", "country": "BE",
            "delivery_channel": "email", "payment_method": "transfer", "legal_status": "none",
            "email": "someone@example.test", "dunning_policy": "__None"}
    form.update(values)
    return form


# Each action: (method, url template, form, check(db) -> True once the change happened).
def _actions(ids):
    return {
        "customer.list": ("GET", "/customerview/list/", None, None),
        "customer.add": ("POST", "/customerview/add", _customer_form(number="NEW-1", name="New"),
                         lambda: db.session.scalar(select(Customer).where(Customer.number == "NEW-1"))),
        "customer.edit": ("POST", f"/customerview/edit/{ids['customer']}", _customer_form(),
                          lambda: db.session.get(Customer, ids["customer"]).name == "Changed name"),
        "customer.delete": ("POST", f"/customerview/delete/{ids['customer']}", {},
                            lambda: db.session.get(Customer, ids["customer"]) is None),
        "invoice.list": ("GET", "/invoiceview/list/", None, None),
        "payment.list": ("GET", "/paymentview/list/", None, None),
        "request.list": ("GET", "/customerrequestview/list/", None, None),
        "import.page": ("GET", "/imports/", None, None),
        "policy.list": ("GET", "/dunningpolicyview/list/", None, None),
        "policy.show": ("GET", f"/dunningpolicyview/show/{ids['policy']}", None, None),
        "policy.add": ("POST", "/dunningpolicyview/add",
                       {"name": "B2B", "segment": "business", "country": "", "active": "y"},
                       lambda: db.session.scalar(select(DunningPolicy).where(DunningPolicy.name == "B2B"))),
        "policy.edit": ("POST", f"/dunningpolicyview/edit/{ids['policy']}",
                        {"name": "Renamed", "segment": "consumer", "country": "BE", "active": "y"},
                        lambda: db.session.get(DunningPolicy, ids["policy"]).name == "Renamed"),
        "policy.delete": ("POST", f"/dunningpolicyview/delete/{ids['policy']}", {},
                          lambda: db.session.get(DunningPolicy, ids["policy"]) is None),
        "setting.edit": ("POST", f"/settingview/edit/{ids['setting']}", {"value": "72"},
                         lambda: db.session.get(Setting, ids["setting"]).value == 72),
        "retention.list": ("GET", "/retentionruleview/list/", None, None),
        "retention.edit": ("POST", f"/retentionruleview/edit/{ids['rule']}",
                           {"category": "invoices", "period_months": "84",
                            "counts_from": "document_date", "action": "delete", "active": "y"},
                           lambda: db.session.get(RetentionRule, ids["rule"]).period_months == 84),
        "audit.list": ("GET", "/auditeventview/list/", None, None),
        "users.list": ("GET", "/users/list/", None, None),
    }


Y, N = True, False
# role -> action -> allowed
MATRIX = {
    ADMIN: dict.fromkeys(_actions({"customer": 0, "policy": 0, "setting": 0, "rule": 0}), Y),
    CREDIT_MANAGER: {
        "customer.list": Y, "customer.add": Y, "customer.edit": Y, "customer.delete": Y,
        "invoice.list": Y, "payment.list": Y, "request.list": Y, "import.page": Y,
        "policy.list": Y, "policy.show": Y, "policy.add": Y, "policy.edit": Y, "policy.delete": Y,
        "setting.edit": Y, "retention.list": N, "retention.edit": N, "audit.list": N,
        "users.list": N,
    },
    AR_CLERK: {
        "customer.list": Y, "customer.add": Y, "customer.edit": Y, "customer.delete": Y,
        "invoice.list": Y, "payment.list": Y, "request.list": Y, "import.page": Y,
        "policy.list": Y, "policy.show": Y, "policy.add": N, "policy.edit": N, "policy.delete": N,
        "setting.edit": N, "retention.list": N, "retention.edit": N, "audit.list": N,
        "users.list": N,
    },
    COMPLIANCE_OFFICER: {
        "customer.list": Y, "customer.add": N, "customer.edit": N, "customer.delete": N,
        "invoice.list": Y, "payment.list": Y, "request.list": Y, "import.page": N,
        "policy.list": Y, "policy.show": Y, "policy.add": N, "policy.edit": N, "policy.delete": N,
        "setting.edit": N, "retention.list": Y, "retention.edit": Y, "audit.list": Y,
        "users.list": N,
    },
    READ_ONLY: {
        "customer.list": Y, "customer.add": N, "customer.edit": N, "customer.delete": N,
        "invoice.list": Y, "payment.list": Y, "request.list": Y, "import.page": N,
        "policy.list": Y, "policy.show": Y, "policy.add": N, "policy.edit": N, "policy.delete": N,
        "setting.edit": N, "retention.list": N, "retention.edit": N, "audit.list": N,
        "users.list": N,
    },
    ERP_INTEGRATION: dict.fromkeys(MATRIX_KEYS := list(_actions(
        {"customer": 0, "policy": 0, "setting": 0, "rule": 0})), N),
}
CASES = [(role, action, allowed) for role, row in MATRIX.items() for action, allowed in row.items()]


def test_matrix_covers_every_role_and_action():
    assert set(MATRIX) == set(STAFF_ROLES)
    for row in MATRIX.values():
        assert set(row) == set(MATRIX_KEYS)


@pytest.fixture
def records():
    customer = make_customer(name="Original name")
    policy = DunningPolicy(name="Consumers", segment="consumer", country="BE")
    setting = Setting(key="request_sla_hours", value=48)
    rule = RetentionRule(category="invoices", period_months=120)
    db.session.add_all([policy, setting, rule])
    db.session.commit()
    return {"customer": customer.id, "policy": policy.id, "setting": setting.id, "rule": rule.id}


@pytest.mark.parametrize("role,action,allowed", CASES,
                         ids=[f"{r}-{a}-{'yes' if ok else 'no'}" for r, a, ok in CASES])
def test_role_permission_matrix(app, staff_client, records, role, action, allowed):
    method, url, form, changed = _actions(records)[action]
    client = staff_client(role)
    if method == "GET":
        response = client.get(url)
        assert response.status_code == (200 if allowed else 403), response.status_code
        return
    data = dict(form, csrf_token=session_csrf(app, client))
    response = client.post(url, data=data)
    db.session.expire_all()
    if allowed:
        assert response.status_code == 302
        assert changed(), f"{role} was allowed {action} but nothing changed"
    else:
        assert response.status_code == 403
        assert not changed(), f"{role} was refused {action} but the data changed"


def test_read_only_changes_nothing_anywhere(app, staff_client, sample_data):
    """Every add, edit and delete URL of every screen refuses a Read-only user."""
    from app.core.admin import StaffModelView

    client = staff_client(READ_ONLY)
    token = session_csrf(app, client)
    tried = 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, StaffModelView):
            continue
        pk = view.datamodel.get_keys(view.datamodel.query()[1])[0]
        for path in ("add", f"edit/{pk}", f"delete/{pk}"):
            response = client.post(f"{view.route_base}/{path}", data={"csrf_token": token})
            assert response.status_code in (403, 404, 405), f"{view.route_base}/{path}"
            tried += 1
    assert tried > 60
    assert db.session.get(Customer, sample_data["customer"].id) is not None
    response = client.post("/imports/upload/invoices", data={"csrf_token": token})
    assert response.status_code == 403


@pytest.mark.parametrize("role,sees_compliance", [
    (ADMIN, True), (COMPLIANCE_OFFICER, True), (CREDIT_MANAGER, False), (AR_CLERK, False),
    (READ_ONLY, False),
])
def test_only_compliance_roles_see_the_compliance_menu(staff_client, role, sees_compliance):
    html = staff_client(role).get("/").get_data(as_text=True)
    assert ("/retentionruleview/list/" in html) is sees_compliance
    assert ("/auditeventview/list/" in html) is sees_compliance
    assert bool(re.search(r"Compliance\s*<b class=\"caret\">", html)) is sees_compliance
    assert "/customerview/list/" in html  # everyone here sees the receivables


def _role(name):
    return SimpleNamespace(name=name)


def test_every_menu_entry_is_visible_exactly_to_who_may_open_it(app):
    """menu_access (checked on menu names) agrees with the view's own rights, for every role.

    FAB shows an entry only inside a category the user may see (Menu.get_data).
    """
    sm = app.appbuilder.sm

    def can(role, permission, name):
        return sm._has_access_builtin_roles(_role(role), permission, name)

    checked = 0
    for role in STAFF_ROLES:
        for category in app.appbuilder.menu.get_list():
            category_visible = can(role, "menu_access", category.name)
            for item in category.childs:
                if item.baseview is None:
                    continue
                view = item.baseview
                method = getattr(view, view.default_view)
                may_open = can(role, f"can_{method._permission_name}", view.class_permission_name)
                shown = category_visible and can(role, "menu_access", item.name)
                assert shown == may_open, (role, category.name, item.name)
                checked += 1
    assert checked > 6 * 30


def test_role_patterns_fit_in_fabs_permission_tables():
    """FAB stores each (name, permission) pair as rows: name <= 250 and permission <= 100."""
    from app.core.roles import FAB_ROLES

    for role, pairs in FAB_ROLES.items():
        for name_pattern, permission_pattern in pairs:
            assert len(name_pattern) <= 250, (role, name_pattern)
            assert len(permission_pattern) <= 100, (role, permission_pattern)
