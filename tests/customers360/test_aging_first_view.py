"""The first view of a day does not compute the DSO trend: it shows the last one (dated) while
today's is computed in the background (issue 22: first request of the aging page <= 1 s)."""
from __future__ import annotations

from datetime import date, timedelta

from app.core.i18n import moment
from app.core.models import utcnow
from app.core.snapshots import FigureSnapshot
from app.extensions import db
from app.insights.aging import dso_snapshot
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


def test_first_view_of_a_day_shows_yesterdays_trend_and_queues_todays(app, staff_client):
    anna = make_customer(name="Anna")
    make_invoice(anna, total="100.00", due_in_days=-10, issue_date=TODAY - timedelta(days=40))
    db.session.commit()
    yesterday = TODAY - timedelta(days=1)
    old = dso_snapshot(yesterday)
    row = db.session.get(FigureSnapshot, f"dso:{yesterday.isoformat()}:90")
    row.computed_at = utcnow() - timedelta(hours=20)
    db.session.commit()

    page = staff_client("Read-only").get("/insights/aging").get_data(as_text=True)

    with app.test_request_context():
        assert moment(row.computed_at) in page  # yesterday's, said to be yesterday's
    assert old.value[-1].at.strftime("%m/%y") in page
    # Today's was queued (the test job runner runs it at once): the next view has it.
    db.session.expire_all()
    today = db.session.get(FigureSnapshot, f"dso:{TODAY.isoformat()}:90")
    assert today is not None and utcnow() - today.computed_at < timedelta(minutes=1)
    assert not dso_snapshot(TODAY).refreshing
