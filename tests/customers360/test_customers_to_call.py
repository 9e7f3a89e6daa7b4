""""Customers to call" on the demo data (issue 20 #6): a list a person can call today, ranked,
each with its reasons and the overdue amount to talk about."""
from __future__ import annotations

import re

from flask_babel import refresh

from app.core.settings import set_setting
from app.customers.models import Customer
from app.demo import seed_demo_data
from app.extensions import db
from app.selfservice import risk
from tests.helpers import logged_in_client


def test_demo_data_leaves_a_short_ranked_list_with_reasons(app):
    seed_demo_data()
    set_setting("risk.send_proposals", False)  # the list, not the proposal messages
    db.session.commit()
    customers = db.session.query(Customer).count()
    risk.refresh_risk_flags()
    listed, total = risk.flagged_customers()
    assert customers == 31
    assert 3 <= total <= 8, [(c.number, c.risk_flags) for c in listed]
    assert all(c.risk_flags for c in listed)
    assert all(c.legal_status == "none" for c in listed)  # a lawyer's file is not called
    ranks = [(len(c.risk_flags), c.overdue) for c in listed]
    assert ranks == sorted(ranks, reverse=True)
    assert all(c.overdue > 0 for c in listed)

    client = logged_in_client(app, "Credit manager")
    refresh()
    html = client.get("/mywork/flagged?lang=en").get_data(as_text=True)
    rows = re.findall(r"<tr><td><a href=\"[^\"]*/customer360/\d+\">([^<]+)</a>", html)
    assert rows == [c.number for c in listed]
    assert html.count('class="cd-reasons"') == total
    assert "Pays late repeatedly" in html or "Growing balance" in html


def test_invoicing_more_than_was_paid_is_not_a_reason_on_its_own(app):
    """Every customer on 30-day terms invoices more in a quarter than it paid: not a call."""
    from tests.helpers import make_customer, make_invoice

    customer = make_customer(name="Regular Payer")
    for days in (5, 15, 25):
        make_invoice(customer, total="4000.00", due_in_days=days)
    assert customer.id not in risk.growing_balances()
    late = make_customer(name="Late Payer")
    make_invoice(late, total="6000.00", due_in_days=-60)
    assert late.id in risk.growing_balances()
