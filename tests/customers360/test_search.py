"""One search box: each key typed the way people type it leads to the customer."""
from __future__ import annotations

import pytest

from app.customer360.search import search_customers
from app.customers.models import BankAccount, Contact
from app.extensions import db
from app.invoices.references import format_ogm, format_rf
from tests.helpers import make_customer, make_invoice


@pytest.fixture
def people():
    marie = make_customer(name="Marie Lambert", number="C-7781", email="marie@example.test",
                          phone="+32470123456")
    other = make_customer(name="Jan Peeters", email="jan@example.test")
    invoice = make_invoice(marie, total="121.00")
    db.session.add(BankAccount(customer=marie, iban="BE68539007547034", status="active"))
    db.session.add(Contact(customer=other, name="Els", email="els.boekhouding@example.test",
                           phone="+32478000111"))
    db.session.commit()
    return {"marie": marie, "other": other, "invoice": invoice}


def _ids(query):
    return [hit.customer.id for hit in search_customers(query)]


def test_each_key_finds_the_customer(people):
    marie, invoice = people["marie"], people["invoice"]
    ogm = invoice.structured_reference
    spaced_ogm = f"{ogm[:3]} {ogm[3:7]} {ogm[7:]}"
    for query in ("C-7781", "marie lam", "MARIE@example.test", "0470 12 34 56",
                  "+32 470 12 34 56", "be68 5390 0754 7034", invoice.number, format_ogm(ogm),
                  spaced_ogm, ogm, f"***{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}***",
                  format_rf(invoice.rf_reference), invoice.rf_reference.lower()):
        assert _ids(query)[:1] == [marie.id], query


def test_exact_keys_say_what_matched(people):
    invoice = people["invoice"]
    [hit] = search_customers(format_ogm(invoice.structured_reference))
    assert hit.matched_on == "ogm" and hit.exact and hit.detail == invoice.number
    [hit] = search_customers("be68 5390 0754 7034")
    assert hit.matched_on == "iban"


def test_contacts_count_too(people):
    assert _ids("els.boekhouding@example.test") == [people["other"].id]
    assert _ids("0478 00 01 11") == [people["other"].id]


def test_wrong_check_digits_and_nonsense_find_nothing(people):
    ogm = people["invoice"].structured_reference
    wrong = ogm[:10] + ("00" if ogm[10:] != "00" else "01")
    assert _ids(format_ogm(wrong)) == []
    assert _ids("zzzz-nobody") == []
    assert _ids("   ") == []
    assert _ids("%") == []  # a LIKE wildcard is a character, not "everything"


def test_search_page_opens_the_single_exact_hit(staff_client, people):
    client = staff_client("Read-only")
    invoice = people["invoice"]
    response = client.get("/customer360/search", query_string={
        "q": format_ogm(invoice.structured_reference)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/customer360/{people['marie'].id}")


def test_search_page_lists_several_hits_escaped(staff_client):
    make_customer(name="Dupont <script>alert(1)</script>")
    make_customer(name="Dupont & fils")
    html = staff_client("AR clerk").get("/customer360/search?q=dupont").get_data(as_text=True)
    assert "Dupont &amp; fils" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_search_box_is_in_the_navbar_on_every_page(staff_client):
    html = staff_client("Credit manager").get("/customerview/list/").get_data(as_text=True)
    assert 'id="cd-navbar-search"' in html


def test_erp_integration_cannot_search(staff_client):
    assert staff_client("ERP integration").get("/customer360/search?q=x").status_code in (302, 403)


def test_an_exact_key_does_not_also_list_names(people):
    """Only a text that is no key falls back to the name search (the one costly query)."""
    marie = people["marie"]
    namesake = make_customer(name="Shop C-7781 Gent")  # its name contains Marie's number
    assert [(h.customer.id, h.matched_on) for h in search_customers("C-7781")] == [
        (marie.id, "number")]
    assert _ids("shop c-77") == [namesake.id]


def test_an_unknown_email_is_not_looked_for_in_names(people):
    make_customer(name="nobody@example.test")
    assert _ids("nobody@example.test") == []
    assert _ids("Jan@Example.TEST") == [people["other"].id]  # e-mails: any case


def test_the_search_indexes_exist(app):
    """Exact keys are indexed lookups (migration search_0005), not scans of every customer."""
    from sqlalchemy import text

    expected = {"ix_customer_phone", "ix_contact_phone", "ix_customer_email_lower",
                "ix_contact_email_lower"}
    if db.engine.dialect.name == "postgresql":
        names = set(db.session.scalars(text("SELECT indexname FROM pg_indexes")))
        expected.add("ix_customer_name_trgm")
    else:
        names = set(db.session.scalars(text("SELECT name FROM sqlite_master "
                                            "WHERE type = 'index'")))
    assert expected <= names
