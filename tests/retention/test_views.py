"""Back office: rules only the Compliance officer and Admin edit; the dashboard and its approval."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.roles import ADMIN, AR_CLERK, COMPLIANCE_OFFICER, CREDIT_MANAGER, READ_ONLY
from app.customers.models import Customer
from app.extensions import db
from app.retention.categories import ANONYMISED_NAME
from app.retention.models import RetentionRule, RetentionRun
from tests.backoffice.conftest import session_csrf
from tests.helpers import csrf_token
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")


def _rule(category="contacts"):
    return db.session.scalar(select(RetentionRule).where(RetentionRule.category == category))


def _form(**values):
    form = {"category": "contacts", "period_months": "6", "counts_from": "relationship_end",
            "action": "delete", "legal_basis": "GDPR art. 5(1)(e)",
            "legal_basis_fr": "RGPD art. 5", "legal_basis_nl": "AVG art. 5", "active": "y"}
    form.update(values)
    return form


@pytest.mark.parametrize("role,allowed", [(ADMIN, True), (COMPLIANCE_OFFICER, True),
                                          (CREDIT_MANAGER, False), (AR_CLERK, False),
                                          (READ_ONLY, False)])
def test_only_compliance_roles_edit_rules(app, staff_client, role, allowed):
    rule = _rule()
    client = staff_client(role)
    response = client.post(f"/retentionruleview/edit/{rule.id}",
                           data=dict(_form(), csrf_token=session_csrf(app, client)))
    db.session.expire_all()
    if allowed:
        assert response.status_code == 302
        assert _rule().period_months == 6 and _rule().legal_basis_nl == "AVG art. 5"
    else:
        assert response.status_code == 403
        assert _rule().period_months == 12
    listing = client.get("/retentionruleview/list/")
    assert listing.status_code == (200 if allowed else 403)
    dashboard = client.get("/compliance/")
    assert dashboard.status_code == (200 if allowed else 403)


def test_a_rule_the_purge_cannot_apply_is_refused(app, staff_client):
    rule = _rule()
    client = staff_client(COMPLIANCE_OFFICER)
    page = client.get(f"/retentionruleview/edit/{rule.id}")
    token = csrf_token(page.get_data(as_text=True))
    response = client.post(f"/retentionruleview/edit/{rule.id}",
                           data=_form(counts_from="document_date", csrf_token=token),
                           follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    assert _rule().counts_from == "relationship_end" and _rule().period_months == 12
    response = client.post(f"/retentionruleview/edit/{rule.id}",
                           data=_form(period_months="-3", csrf_token=token),
                           follow_redirects=True)
    db.session.expire_all()
    assert _rule().period_months == 12


def test_dashboard_dry_run_then_approve_runs_the_purge(app, staff_client):
    customer = rich_customer(name="Marie Dupont")
    client = staff_client(COMPLIANCE_OFFICER)
    page = client.get("/compliance/").get_data(as_text=True)
    token = csrf_token(page)
    assert client.post("/compliance/dry-run", data={"csrf_token": token}).status_code == 302
    dry = db.session.scalar(select(RetentionRun).where(RetentionRun.dry_run.is_(True)))
    page = client.get("/compliance/").get_data(as_text=True)
    assert f"contact:{customer.contacts[0].id}" in page  # sample ids to check
    assert db.session.get(Customer, customer.id).name == "Marie Dupont"
    # Without CSRF: refused, nothing runs.
    assert client.post(f"/compliance/approve/{dry.id}").status_code == 400
    response = client.post(f"/compliance/approve/{dry.id}", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    real = db.session.scalar(select(RetentionRun).where(RetentionRun.source_run_id == dry.id))
    assert real is not None and real.status == "done" and real.triggered_by == "compliance_officer"
    assert db.session.get(Customer, customer.id).name == ANONYMISED_NAME
    assert client.get(f"/retentionrunview/show/{real.id}").status_code == 200
    page = client.get("/compliance/").get_data(as_text=True)
    assert "approve-run" not in page
    assert client.post("/compliance/approve/999999", data={"csrf_token": token}).status_code \
        == 404


def test_open_gdpr_requests_show_their_deadline(app, staff_client):
    from app.requests.services import open_request

    customer = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    req = open_request(customer, "erasure", notify=False)
    db.session.commit()
    page = staff_client(ADMIN).get("/compliance/").get_data(as_text=True)
    assert f"#{req.id}" in page and "Marie Dupont" in page


def test_preset_sets_the_dutch_periods(app, staff_client):
    client = staff_client(ADMIN)
    token = csrf_token(client.get("/compliance/").get_data(as_text=True))
    response = client.post("/compliance/preset", data={"csrf_token": token, "preset": "NL"})
    assert response.status_code == 302
    db.session.expire_all()
    assert _rule("invoices").period_months == 84
    assert "2:10" in _rule("invoices").legal_basis_nl
    response = client.post("/compliance/preset", data={"csrf_token": token, "preset": "XX"})
    assert response.status_code == 400
    db.session.expire_all()
    assert _rule("invoices").period_months == 84


def test_dashboard_lists_open_gdpr_requests_with_their_one_month_deadline(app, staff_client):
    from datetime import UTC, date, datetime, timedelta

    from app.core.i18n import day
    from app.core.models import utcnow
    from app.core.time import BUSINESS_TZ
    from app.requests.services import open_request
    from app.retention.purge import months_before

    customer = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    late = open_request(customer, "erasure", notify=False)
    late.created_at = datetime(2024, 1, 31, 10, 0, tzinfo=UTC)
    fresh = open_request(customer, "access", notify=False)
    fresh.created_at = utcnow() - timedelta(days=2)
    answered = open_request(customer, "erasure", notify=False)
    answered.status = "rejected"
    question = open_request(customer, "question", notify=False)
    db.session.commit()
    page = staff_client(COMPLIANCE_OFFICER).get("/compliance/").get_data(as_text=True)
    section = page[page.index('id="gdpr-requests"'):page.index('id="last-runs"')]

    def row(req):
        start = section.rindex("<tr", 0, section.index(f'id="gdpr-request-{req.id}"'))
        return section[start:section.index("</tr>", start)]

    # One calendar month after receipt (the 31st: the month's last day), overdue: in red.
    assert day(date(2024, 2, 29)) in row(late) and 'class="danger"' in row(late)
    assert f'href="/requests/queue/{late.id}"' in row(late)
    assert f'href="/requests/queue/{fresh.id}"' in row(fresh)
    assert day(months_before(fresh.created_at.astimezone(BUSINESS_TZ).date(), -1)) in row(fresh)
    assert 'class="danger"' not in row(fresh) and 'class="warning"' not in row(fresh)
    assert f"gdpr-request-{answered.id}" not in section
    assert f"gdpr-request-{question.id}" not in section
    assert section.index(f"gdpr-request-{late.id}") < section.index(f"gdpr-request-{fresh.id}")
