"""Formats a person expects on staff pages (issue 20 #5): amounts with currency in the reader's
locale on every list/show page, Brussels time, the audit trail's customer, national phones."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask_babel import refresh
from sqlalchemy import Numeric

from app.core.admin import StaffModelView, money_formatter
from app.core.audit_models import AuditEvent
from app.core.i18n import phone
from app.extensions import db
from app.retention.models import RetentionRun
from tests.helpers import logged_in_client, make_customer, make_invoice


def page(client, url: str) -> str:
    """The test shares one app context (and its cached Babel locale) between requests."""
    refresh()
    return client.get(url).get_data(as_text=True)


def test_every_money_column_of_every_staff_view_is_formatted_as_money(app):
    """Generic: a Numeric(12, 2) column gets money() unless the view sets its own formatter."""
    checked = 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, StaffModelView):
            continue
        own = type(view).formatters_columns or {}
        for name, column in view.datamodel.list_columns.items():
            column_type = getattr(column, "type", None)
            if isinstance(column_type, Numeric) and column_type.scale == 2 and name not in own \
                    and name not in view.choice_columns:
                assert view.formatters_columns[name] is money_formatter, (type(view), name)
                checked += 1
    assert checked > 10


def test_invoice_list_and_show_show_amounts_in_the_readers_locale(app):
    customer = make_customer(name="Brasserie Dupont")
    invoice = make_invoice(customer, total="1234.50")
    client = logged_in_client(app, "Credit manager")
    english = page(client, "/invoiceview/list/?lang=en")
    assert "€1,234.50" in english
    french = page(client, "/invoiceview/list/?lang=fr")
    assert "1\u202f234,50\xa0€" in french or "1 234,50\xa0€" in french
    dutch = page(client, f"/invoiceview/show/{invoice.id}?lang=nl")
    assert "€\xa01.234,50" in dutch
    assert "1234.50" not in dutch


def test_compliance_dashboard_shows_brussels_time(app):
    db.session.add(RetentionRun(dry_run=True, status="done", triggered_by="test",
                                started_at=datetime(2026, 1, 14, 23, 30, tzinfo=UTC)))
    db.session.commit()
    client = logged_in_client(app, "Compliance officer")
    html = page(client, "/compliance/?lang=en")
    assert "Jan 15, 2026 12:30\u202fAM" in html or "Jan 15, 2026 12:30 AM" in html
    assert "23:30" not in html
    french = page(client, "/compliance/?lang=fr")
    assert "15 janv. 2026 00:30" in french


def test_audit_trail_names_the_customer(app):
    customer = make_customer(number="C-2024", name="Boulangerie Martin")
    db.session.add(AuditEvent(actor_type="staff", actor="alice", action="view",
                              entity="customer", entity_id=str(customer.id),
                              customer_id=customer.id))
    db.session.add(AuditEvent(actor_type="staff", actor="alice", action="view",
                              entity="customer", entity_id="999", customer_id=999))
    db.session.commit()
    client = logged_in_client(app, "Compliance officer")
    html = page(client, "/auditeventview/list/?lang=en")
    assert "C-2024 Boulangerie Martin" in html
    assert "customer #999 (erased)" in html


def test_phone_numbers_in_national_format():
    assert phone("+32470123456", "BE") == "0470 12 34 56"
    assert phone("+31612345678", "BE") == "+31 6 12345678"  # abroad: the country code stays
    assert phone("+31612345678", "NL") == "06 12345678"
    assert phone("not a number") == "not a number"
    assert phone(None) == ""


def test_customer_list_and_360_show_the_national_phone(app):
    customer = make_customer(name="Jan Peeters", phone="+32470123456")
    client = logged_in_client(app, "Credit manager")
    text = page(client, f"/customer360/{customer.id}?lang=nl")
    assert "0470 12 34 56" in text
    assert "+32470123456" not in text


def test_money_formatter_handles_decimal():
    assert money_formatter(None) == ""
    assert money_formatter(Decimal("2187.00"))


def test_my_work_today_shows_formatted_dates_and_amounts(app):
    from datetime import date

    from app.payments.models import Payment

    db.session.add(Payment(received_on=date(2017, 3, 22), amount=Decimal("2187.00"),
                           unallocated_amount=Decimal("2187.00"), status="unmatched",
                           counterparty_name="J. Janssens"))
    db.session.commit()
    client = logged_in_client(app, "Credit manager")
    html = page(client, "/mywork/?lang=en")
    assert "Mar 22, 2017 €2,187.00" in html
    assert "2017-03-22 2187.00" not in html
    dutch = page(client, "/mywork/?lang=nl")
    assert "22 mrt 2017 €\xa02.187,00" in dutch
