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
