"""Every back office list and detail page renders with data in it, in the reader's language."""
from __future__ import annotations

import pytest

from app.core.admin import StaffModelView


def staff_views(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, StaffModelView)]


def test_every_list_and_detail_page_renders_for_admin(app, staff_client, sample_data):
    client = staff_client("Admin")
    views = staff_views(app)
    assert len(views) >= 30
    for view in views:
        page = client.get(f"{view.route_base}/list/")
        assert page.status_code == 200, view.route_base
        html = page.get_data(as_text=True)
        assert "No records found" not in html, f"{view.route_base} shows no rows"
        pk = view.datamodel.get_keys(view.datamodel.query()[1])[0]
        detail = client.get(f"{view.route_base}/show/{pk}")
        assert detail.status_code == 200, f"{view.route_base}/show/{pk}"
        if "can_add" in view.base_permissions:
            assert client.get(f"{view.route_base}/add").status_code == 200, view.route_base
        if "can_edit" in view.base_permissions:
            assert client.get(f"{view.route_base}/edit/{pk}").status_code == 200, view.route_base


def test_lists_show_translated_choice_labels_and_money(staff_client, sample_data):
    client = staff_client("Admin")
    html = client.get("/customerview/list/").get_data(as_text=True)
    assert "Insolvent" in html and "Company" in html  # labels, not the stored codes
    assert ">insolvent<" not in html
    french = client.get("/customerview/list/?lang=fr").get_data(as_text=True)
    assert "Brasserie Dupont" in french
    assert "€" in french


def test_customer_page_lists_its_invoices_and_contacts(staff_client, sample_data):
    customer = sample_data["customer"]
    html = staff_client("AR clerk").get(f"/customerview/show/{customer.id}").get_data(as_text=True)
    assert sample_data["invoice"].number in html
    assert sample_data["second"].number in html
    assert "Marie Dupont" in html
    assert "Plus de temps" in html  # its customer requests


def test_invoice_page_shows_the_formatted_ogm_and_a_pdf_button(as_role, sample_data):
    from app.invoices.references import format_ogm

    invoice = sample_data["invoice"]
    html = as_role("AR clerk").get(f"/invoiceview/show/{invoice.id}").get_data(as_text=True)
    assert format_ogm(invoice.structured_reference) in html
    assert f'href="/invoices/pdf/{invoice.id}"' in html
    listing = as_role("Admin").get("/invoiceview/list/").get_data(as_text=True)
    assert format_ogm(invoice.structured_reference) in listing


@pytest.mark.parametrize("role", ["Admin", "Read-only"])
def test_forms_use_selects_for_choice_columns(staff_client, sample_data, role):
    client = staff_client("Admin")
    html = client.get("/customerview/add").get_data(as_text=True)
    assert '<select' in html and 'value="legal_proceedings"' in html
    assert "Legal proceedings" in html
