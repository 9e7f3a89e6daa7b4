"""The audit trail: every change records who, from where, which record and which fields (never
personal values); staff views of personal data are logged; the trail is read-only on screen,
searchable and exportable by the Compliance officer."""
from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from app.core.audit_models import AuditEvent
from app.customers.models import BankAccount, Contact, Customer
from app.extensions import db
from app.jobs import enqueue
from tests.api.support import ApiClient, jwt_for
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice
from tests.portal.conftest import install_magic_link_templates, sign_in


def events(*where) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.id)))


def _customer_form(customer: Customer, **values) -> dict:
    form = {"name": customer.name, "kind": "person", "language": "fr", "country": "BE",
            "delivery_channel": "email", "payment_method": "transfer", "legal_status": "none",
            "email": customer.email, "phone": "", "dunning_policy": "__None"}
    form.update(values)
    return form


def test_staff_edit_records_actor_ip_fields_and_no_personal_values(app, staff_client):
    customer = make_customer(name="Marie Dupont", email="marie@example.test")
    client = staff_client("AR clerk")
    form = _customer_form(customer, name="Marie Durand", email="marie.durand@example.test",
                          language="nl", csrf_token=session_csrf(app, client))
    response = client.post(f"/customerview/edit/{customer.id}", data=form,
                           environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 302
    (event,) = events(AuditEvent.action == "update", AuditEvent.entity == "customer")
    assert (event.actor_type, event.actor, event.ip) == ("staff", "ar_clerk", "198.51.100.7")
    assert event.entity_id == str(customer.id) and event.customer_id == customer.id
    assert {"name", "email", "language"} <= set(event.changed_fields)
    # The language is a code, kept as old -> new; the name and e-mail are not copied anywhere.
    assert "language: fr → nl" in event.detail
    row = repr([(e.actor, e.detail, e.changed_fields) for e in events()])
    for personal in ("Marie", "Durand", "Dupont", "marie.durand@example.test"):
        assert personal not in row


def test_forwarded_for_is_only_trusted_when_configured(app, staff_client):
    customer = make_customer()
    client = staff_client("Admin")
    headers = {"X-Forwarded-For": "203.0.113.9, 10.0.0.2"}
    client.get(f"/customerview/show/{customer.id}", headers=headers,
               environ_base={"REMOTE_ADDR": "10.0.0.1"})
    app.config["TRUSTED_PROXY_COUNT"] = 2
    try:
        client.get(f"/customerview/show/{customer.id}", headers=headers,
                   environ_base={"REMOTE_ADDR": "10.0.0.1"})
    finally:
        app.config["TRUSTED_PROXY_COUNT"] = 0
    assert [e.ip for e in events(AuditEvent.action == "view")] == ["10.0.0.1", "203.0.113.9"]


def test_staff_views_of_personal_data_are_logged(staff_client):
    customer = make_customer()
    account = BankAccount(customer=customer, iban="BE68539007547034", status="active")
    db.session.add(account)
    db.session.commit()
    client = staff_client("Credit manager")
    assert client.get(f"/customerview/show/{customer.id}").status_code == 200
    assert client.get(f"/bankaccountview/edit/{account.id}").status_code == 200
    assert client.get("/bankaccountview/show/999999").status_code == 404
    client.get("/invoiceview/list/")  # not personal data: not logged
    seen = [(e.entity, e.entity_id, e.detail, e.actor, e.customer_id)
            for e in events(AuditEvent.action == "view")]
    assert seen == [("customer", str(customer.id), "show", "credit_manager", customer.id),
                    ("bank_account", str(account.id), "edit", "credit_manager", customer.id)]


def test_portal_change_is_recorded_as_the_customer(app, client):
    from app.notifications.defaults import install_defaults

    install_defaults()
    db.session.commit()
    install_magic_link_templates()
    customer = make_customer(email="anna@example.test")
    invoice = make_invoice(customer, "80.00")
    sign_in(client, "anna@example.test")
    page = client.get(f"/portal/invoices/{invoice.id}/dispute").get_data(as_text=True)
    from tests.portal.conftest import csrf_from

    response = client.post(f"/portal/invoices/{invoice.id}/dispute",
                           data={"csrf_token": csrf_from(page), "reason": "quality",
                                 "text": "The delivery was incomplete.", "amount": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    created = events(AuditEvent.action == "create", AuditEvent.actor_type == "customer")
    assert created, [(e.actor_type, e.entity) for e in events()]
    assert {e.actor for e in created} == {f"customer #{customer.id}"}
    assert "dispute" in {e.entity for e in created}
    assert all(e.customer_id == customer.id for e in created if e.entity == "dispute")
    assert all("incomplete" not in (e.detail or "") for e in events())


def test_api_call_is_recorded_as_api(app, client):
    token = jwt_for(app, client, "ERP integration")
    api = ApiClient(client, token)
    response = api.put("/api/v1/customers/API-1", json={"name": "Api Customer",
                                                          "email": "api@example.test"})
    assert response.status_code in (200, 201), response.get_json()
    (event,) = events(AuditEvent.entity == "customer", AuditEvent.action == "create")
    assert (event.actor_type, event.actor) == ("api", "erp_integration")
    assert "name" in event.changed_fields and "Api Customer" not in (event.detail or "")


def rename_contacts(customer_id: int) -> None:
    """A job for the test below (jobs take ids, never objects)."""
    for contact in db.session.scalars(select(Contact).where(Contact.customer_id == customer_id)):
        contact.role = "reminder"
    db.session.commit()


def test_a_job_is_recorded_as_job():
    customer = make_customer(contact_name="Piet", address_line1="Straat 1", postal_code="1000",
                             city="Brussel")
    enqueue("tests.retention.test_audit.rename_contacts", customer.id)
    (event,) = events(AuditEvent.entity == "contact", AuditEvent.action == "update")
    assert (event.actor_type, event.actor) == ("job", "tests.retention.test_audit.rename_contacts")
    assert event.changed_fields == ["role"] and event.detail == "role: billing → reminder"
    assert event.customer_id == customer.id


def test_deletes_are_recorded_and_the_audit_table_itself_is_not():
    customer = make_customer()
    db.session.delete(customer)
    db.session.commit()
    (event,) = events(AuditEvent.action == "delete", AuditEvent.entity == "customer")
    assert event.entity_id == str(customer.id) and event.changed_fields == []
    assert not events(AuditEvent.entity == "audit_event", AuditEvent.action != "export")


def test_audit_rows_cannot_be_changed_on_screen_not_even_by_the_admin(app, staff_client):
    make_customer()
    event = events()[0]
    for role in ("Admin", "Compliance officer"):
        client = staff_client(role)
        token = session_csrf(app, client)
        assert client.get("/auditeventview/list/").status_code == 200
        assert client.get(f"/auditeventview/show/{event.id}").status_code == 200
        assert client.get(f"/auditeventview/edit/{event.id}").status_code in (403, 404)
        assert client.post(f"/auditeventview/edit/{event.id}",
                           data={"actor": "nobody", "csrf_token": token}).status_code in (403, 404)
        assert client.post(f"/auditeventview/delete/{event.id}",
                           data={"csrf_token": token}).status_code in (403, 404)
        assert client.post("/auditeventview/add",
                           data={"actor": "x", "csrf_token": token}).status_code in (403, 404)
        listing = client.get("/auditeventview/list/").get_data(as_text=True)
        assert "/auditeventview/edit/" not in listing and "/auditeventview/delete/" not in listing
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).actor == event.actor
    for role in ("Credit manager", "AR clerk", "Read-only"):
        assert staff_client(role).get("/auditeventview/list/").status_code == 403
        assert staff_client(role).get("/auditeventview/export.csv").status_code == 403


def test_search_and_csv_export_follow_the_filters(app, staff_client):
    first = make_customer(name="First Customer")
    second = make_customer(name="Second Customer")
    client = staff_client("Compliance officer")
    listing = client.get(f"/auditeventview/list/?_flt_0_customer_id={first.id}")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert 'id="audit-export"' in html
    export = client.get(f"/auditeventview/export.csv?_flt_0_customer_id={first.id}"
                        "&_flt_0_entity=customer")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert rows and {r["customer_id"] for r in rows} == {str(first.id)}
    assert {r["entity"] for r in rows} == {"customer"}
    assert "First Customer" not in export.get_data(as_text=True)
    # Customer search by number or name (the filter bar's text box).
    from app.core.admin import FilterCustomerText

    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "AuditEventView")
    by_name = client.get("/auditeventview/export.csv", query_string=view.filter_args(
        "customer_id", FilterCustomerText, "Second"))
    ids = {r["customer_id"] for r in csv.DictReader(io.StringIO(by_name.get_data(as_text=True)))}
    assert ids == {str(second.id)}
    # The export itself is in the trail.
    (exported,) = events(AuditEvent.action == "export")[:1]
    assert exported.actor == "compliance_officer"


def test_bulk_statements_leave_one_summary_per_transaction():
    from sqlalchemy import update

    from app.invoices.models import Invoice

    customer = make_customer()
    invoices = [make_invoice(customer, "10.00") for _ in range(3)]
    db.session.execute(update(Invoice), [{"id": i.id, "dunning_blocked": True} for i in invoices])
    db.session.execute(update(Invoice).where(Invoice.customer_id == customer.id)
                       .values(dunning_blocked=False))
    db.session.commit()
    (summary,) = events(AuditEvent.action == "bulk_update")
    assert summary.entity == "invoice" and summary.changed_fields == ["dunning_blocked"]
    assert '"statements": 2' in summary.detail and '"row_sets": 3' in summary.detail
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) > 1
