"""The home page figures and links, and forms that refuse bad input with a message."""
from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

from app.core.models import Setting
from app.customers.models import Customer
from app.extensions import db
from tests.helpers import csrf_token, make_customer, make_invoice


def test_home_page_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]


def test_dashboard_buckets_and_links_lead_to_the_matching_invoices(staff_client):
    customer = make_customer()
    today = date.today()
    for days, total in ((10, "100.00"), (45, "200.00"), (75, "300.00"), (120, "400.00"),
                        (130, "500.00")):
        make_invoice(customer, total=total, due_in_days=-days,
                     issue_date=today - timedelta(days=days))
    make_invoice(customer, total="50.00", due_in_days=3)
    client = staff_client("AR clerk")
    html = client.get("/").get_data(as_text=True)
    table = html[html.index('id="overdue-buckets"'):]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:5]
    counts = [re.findall(r'class="text-right">([^<]+)<', row)[0] for row in rows]
    assert counts == ["1", "1", "1", "2"]
    assert "€900.00" in rows[3]
    link = unescape(re.search(r'<a href="([^"]+)">More than 90 days', table).group(1))
    listing = client.get(link).get_data(as_text=True)
    assert len(set(re.findall(r"INV-\d{6}", listing))) == 2
    assert "€1,500.00" in html  # total overdue
    assert "€50.00" in html  # due in the next 7 days


def test_dashboard_leaves_out_links_a_role_may_not_open(staff_client):
    html = staff_client("ERP integration").get("/").get_data(as_text=True)
    assert "/invoiceview/list/" not in html


def _customer_form(client, **values):
    page = client.get("/customerview/add").get_data(as_text=True)
    form = {"number": "C-NEW", "name": "Nouveau client", "kind": "company", "language": "fr",
            "country": "BE", "delivery_channel": "email", "payment_method": "transfer",
            "legal_status": "none", "dunning_policy": "__None", "csrf_token": csrf_token(page)}
    form.update(values)
    return form


def test_customer_form_uses_the_customer_rules(staff_client):
    client = staff_client("AR clerk")
    refused = client.post("/customerview/add", data=_customer_form(
        client, vat_number="BE0123456700", email="not-an-email"))
    html = refused.get_data(as_text=True)
    assert "Not a valid BE VAT number." in html
    assert "Not a valid e-mail address." in html
    assert db.session.query(Customer).count() == 0
    response = client.post("/customerview/add", data=_customer_form(
        client, vat_number="BE 0403.170.701", email="compta@example.test"))
    assert response.status_code == 302
    customer = db.session.query(Customer).one()
    assert customer.vat_number == "BE0403170701"  # normalised by clean_customer


def test_a_customer_with_invoices_is_not_deleted(app, staff_client):
    from tests.backoffice.conftest import session_csrf

    customer = make_customer()
    make_invoice(customer)
    client = staff_client("Credit manager")
    response = client.post(f"/customerview/delete/{customer.id}",
                           data={"csrf_token": session_csrf(app, client)}, follow_redirects=True)
    assert "cannot be deleted" in response.get_data(as_text=True)
    assert db.session.get(Customer, customer.id) is not None


def test_a_setting_value_must_be_json(staff_client):
    setting = Setting(key="request_sla_hours", value=48)
    db.session.add(setting)
    db.session.commit()
    client = staff_client("Credit manager")
    page = client.get(f"/settingview/edit/{setting.id}").get_data(as_text=True)
    refused = client.post(f"/settingview/edit/{setting.id}",
                          data={"value": "{48", "csrf_token": csrf_token(page)})
    assert "Not valid JSON" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Setting, setting.id).value == 48
    client.post(f"/settingview/edit/{setting.id}",
                data={"value": '{"hours": 24}', "csrf_token": csrf_token(page)})
    db.session.expire_all()
    assert db.session.get(Setting, setting.id).value == {"hours": 24}


def test_a_template_with_a_syntax_error_is_refused(staff_client):
    client = staff_client("Credit manager")
    page = client.get("/messagetemplateview/add").get_data(as_text=True)
    response = client.post("/messagetemplateview/add", data={
        "key": "reminder", "channel": "email", "language": "fr", "version": "1", "active": "y",
        "subject": "Rappel", "body_text": "Bonjour {{ name", "csrf_token": csrf_token(page)})
    assert "Template error on line 1" in response.get_data(as_text=True)
