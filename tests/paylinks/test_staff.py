"""Staff see a customer's pay links on the 360° page, revoke one, and read its uses."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.paylinks import services
from app.paylinks.models import PayLink
from tests.helpers import csrf_token, make_customer, make_invoice
from tests.paylinks.conftest import token_path


def test_revoke_from_the_360_page_and_timeline(staff_client, fresh_client):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="90.00", due_in_days=-8)
    path = token_path(services.pay_link_url(customer.id, [invoice.id]))
    db.session.commit()
    customer_browser = fresh_client()
    assert customer_browser.get(path).status_code == 303

    staff = staff_client("Admin")
    page = staff.get(f"/customer360/{customer.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="c360-pay-links-table"' in html
    assert "Opened the pay link" in html  # the timeline
    assert path.rsplit("/", 1)[1] not in html  # the token is never shown, not even to staff
    link = db.session.scalars(select(PayLink)).one()
    action = f"/customer360/{customer.id}/pay-links/{link.id}/revoke"
    assert action in html
    assert staff.post(action, data={}).status_code == 400  # no CSRF token: nothing changes
    done = staff.post(action, data={"csrf_token": csrf_token(html)})
    assert done.status_code == 302
    db.session.refresh(link)
    assert link.revoked_at is not None and link.revoked_by == "admin"
    assert customer_browser.get("/portal/pay-link").status_code == 410
    assert customer_browser.get(path).status_code == 410
    html = staff.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "Pay link revoked" in html and "Revoked (admin)" in html


def test_another_customers_link_cannot_be_revoked_from_this_page(staff_client):
    customer, other = make_customer(), make_customer()
    link, _token = services.create_pay_link(other.id, [make_invoice(other).id])
    db.session.commit()
    staff = staff_client("Admin")
    html = staff.get(f"/customer360/{customer.id}").get_data(as_text=True)
    answer = staff.post(f"/customer360/{customer.id}/pay-links/{link.id}/revoke",
                        data={"csrf_token": csrf_token(html)})
    assert answer.status_code == 400
    db.session.refresh(link)
    assert link.revoked_at is None


def test_read_only_staff_cannot_revoke(staff_client):
    customer = make_customer()
    link, _token = services.create_pay_link(customer.id, [make_invoice(customer).id])
    db.session.commit()
    from tests.helpers import csrf_for

    staff = staff_client("Read-only")
    html = staff.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert 'id="c360-pay-links-table"' in html and "/pay-links/" not in html
    staff.post(f"/customer360/{customer.id}/pay-links/{link.id}/revoke",
               data={"csrf_token": csrf_for(staff)})
    db.session.refresh(link)
    assert link.revoked_at is None
