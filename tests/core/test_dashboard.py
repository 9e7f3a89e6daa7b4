from datetime import date, timedelta

from tests.helpers import make_customer, make_invoice


def test_dashboard_shows_open_and_overdue_totals(staff_client):
    customer = make_customer()
    make_invoice(customer, total="100.00", due_in_days=10)
    make_invoice(customer, total="250.50", due_in_days=-20,
                 issue_date=date.today() - timedelta(days=50))
    page = staff_client("Read-only").get("/").get_data(as_text=True)
    assert "350.50" in page
    assert "250.50" in page


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code in (302, 401) or "login" in response.get_data(as_text=True).lower()


def test_dashboard_counts_late_answers_and_links_them(staff_client):
    """The "Late answers" card shows how many open requests are past their answer time."""
    import re

    from app.core.models import utcnow
    from app.extensions import db
    from app.requests.models import CustomerRequest

    customer = make_customer()
    for hours, status in ((-5, "received"), (-1, "in_review"), (30, "received"),
                          (-9, "closed")):
        db.session.add(CustomerRequest(customer_id=customer.id, kind="question", status=status,
                                       sla_due_at=utcnow() + timedelta(hours=hours)))
    db.session.commit()
    page = staff_client("Credit manager").get("/").get_data(as_text=True)
    late = re.search(r'id="late-requests"[^>]*>\s*<a href="([^"]+)">(\d+)</a>', page)
    assert late, "the late-answers card has a number and a link"
    assert late.group(2) == "2"
    assert "sla_within" in late.group(1) or "sla_due_at" in late.group(1)
