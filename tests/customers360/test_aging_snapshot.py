"""The aging page's DSO trend is a snapshot that says how fresh it is, refreshed once stale."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.core.models import utcnow
from app.core.snapshots import FigureSnapshot
from app.extensions import db
from app.insights.aging import DSO_MAX_AGE, dso_snapshot
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


def _receivables_today(html: str) -> str:
    """The receivables cell of the DSO table's last row (today)."""
    table = html.split('id="dso-trend"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>[^<]*</td><td[^>]*>([^<]*)</td>", table)[-1]


def test_page_shows_the_snapshot_time_and_a_stale_snapshot_is_refreshed(staff_client):
    anna = make_customer(name="Anna")
    make_invoice(anna, total="100.00", due_in_days=-10, issue_date=TODAY - timedelta(days=40))
    db.session.commit()
    client = staff_client("Read-only")

    first = client.get("/insights/aging").get_data(as_text=True)
    assert 'id="dso-as-of"' in first
    row = db.session.scalar(select(FigureSnapshot))
    assert row is not None and row.name.startswith(f"dso:{TODAY.isoformat()}")
    assert dso_snapshot(TODAY).value[-1].receivables == Decimal("100.00")

    # A new invoice: the fresh snapshot is still what the page shows (that is its point) ...
    make_invoice(anna, total="300.00", due_in_days=-5, issue_date=TODAY - timedelta(days=20))
    db.session.commit()
    assert "100" in _receivables_today(client.get("/insights/aging").get_data(as_text=True))
    assert dso_snapshot(TODAY).value[-1].receivables == Decimal("100.00")

    # ... until it is older than its age limit: that view queues the refresh (run at once by
    # the test job runner), and from then on the page has the new figure and time.
    row = db.session.scalar(select(FigureSnapshot))
    row.computed_at = utcnow() - DSO_MAX_AGE - timedelta(minutes=1)
    db.session.commit()
    client.get("/insights/aging")
    db.session.expire_all()
    fresh = dso_snapshot(TODAY)
    assert fresh.value[-1].receivables == Decimal("400.00")
    assert utcnow() - fresh.computed_at < timedelta(minutes=1) and not fresh.refreshing
    assert "400" in _receivables_today(client.get("/insights/aging").get_data(as_text=True))
