"""Building blocks for tests: realistic records through the real services, staff logins."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from itertools import count

from app.customers.models import Customer
from app.customers.services import clean_customer, upsert_customer
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.services import clean_invoice, upsert_invoice

_numbers = count(1)
PASSWORD = "correct horse battery staple"


def make_customer(**fields) -> Customer:
    n = next(_numbers)
    data = {"number": f"C{n:05d}", "name": f"Customer {n}", "language": "fr",
            "email": f"customer{n}@example.test"}
    data.update(fields)
    customer, _ = upsert_customer(clean_customer(data))
    db.session.commit()
    return customer


def make_invoice(customer: Customer, total="100.00", due_in_days: int = 30,
                 issue_date: date | None = None, **fields) -> Invoice:
    n = next(_numbers)
    issue = issue_date or date.today() - timedelta(days=5)
    data = {"number": f"INV-{n:06d}", "customer_number": customer.number,
            "issue_date": issue.isoformat(),
            "due_date": (date.today() + timedelta(days=due_in_days)).isoformat(),
            "total_amount": str(total)}
    if date.fromisoformat(data["due_date"]) < issue:
        data["issue_date"] = data["due_date"]
    data.update(fields)
    invoice, _ = upsert_invoice(clean_invoice(data))
    db.session.commit()
    return invoice


def make_staff_user(app, role: str, username: str | None = None):
    sm = app.appbuilder.sm
    username = username or re.sub(r"\W", "_", role.lower())
    user = sm.find_user(username=username)
    if user is None:
        user = sm.add_user(username, role, "Test", f"{username}@example.test",
                           sm.find_role(role), password=PASSWORD)
    return user


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def csrf_for(client) -> str:
    """A valid CSRF token for this test client's session: what the forms of any page it
    opens carry (every POST needs one, app/core/web_security.py)."""
    import secrets

    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(current_app.secret_key, salt="wtf-csrf-token").dumps(raw)


def logged_in_client(app, role: str):
    user = make_staff_user(app, role)
    client = app.test_client()
    page = client.get("/login/")
    response = client.post("/login/", data={"username": user.username, "password": PASSWORD,
                                            "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code in (302, 303), "login failed"
    return client


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
