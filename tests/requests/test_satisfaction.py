"""The satisfaction report's arithmetic: NPS, averages and counts per month and per kind."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from app.extensions import db
from app.requests.models import CustomerRequest
from app.requests.satisfaction import satisfaction_report, score_of
from tests.helpers import make_customer


def test_nps_is_promoters_minus_detractors_in_percent():
    score = score_of([10, 9, 9, 8, 7, 6, 0, 3, 10, 5])
    assert (score.count, score.promoters, score.passives, score.detractors) == (10, 4, 2, 4)
    assert score.nps == 0
    assert score.average == Decimal("6.7")
    assert score_of([9, 10, 7]).nps == 67  # 2/3 promoters, no detractor: 66.7 rounds to 67
    assert score_of([0, 6, 8]).nps == -67
    assert score_of([10]).nps == 100
    empty = score_of([])
    assert empty.nps is None and empty.average is None and empty.count == 0


def _answered(customer, kind, score, when, comment=None):
    req = CustomerRequest(customer_id=customer.id, kind=kind, status="closed",
                          satisfaction_score=score, satisfaction_comment=comment,
                          satisfaction_at=when)
    db.session.add(req)
    return req


def test_report_groups_by_month_in_brussels_time_and_by_kind(app):
    customer = make_customer(name="Bakkerij Janssens")
    utc = UTC
    _answered(customer, "deferral", 10, datetime(2026, 3, 5, 10, tzinfo=utc), "Vlot geregeld")
    _answered(customer, "deferral", 9, datetime(2026, 3, 20, 10, tzinfo=utc))
    _answered(customer, "question", 2, datetime(2026, 3, 31, 22, 30, tzinfo=utc), "Te traag")
    _answered(customer, "question", 8, datetime(2026, 4, 10, 8, tzinfo=utc))
    # Not answered, or outside the period: not counted.
    db.session.add(CustomerRequest(customer_id=customer.id, kind="question", status="closed"))
    _answered(customer, "deferral", 0, datetime(2025, 12, 31, 12, tzinfo=utc), "old")
    db.session.commit()

    report = satisfaction_report(date(2026, 1, 1), date(2026, 6, 30))
    assert report.overall.count == 4
    assert report.overall.nps == 25  # 2 promoters, 1 detractor of 4
    assert report.overall.average == Decimal("7.3")  # 29 / 4 = 7.25
    months = {month: score for month, score in report.months}
    # 31 March 22:30 UTC is already 1 April in Brussels (summer time).
    assert sorted(months) == [date(2026, 3, 1), date(2026, 4, 1)]
    assert months[date(2026, 3, 1)].count == 2 and months[date(2026, 3, 1)].nps == 100
    assert months[date(2026, 4, 1)].count == 2 and months[date(2026, 4, 1)].nps == -50
    kinds = dict(report.kinds)
    assert kinds["deferral"].count == 2 and kinds["deferral"].average == Decimal("9.5")
    assert kinds["question"].count == 2 and kinds["question"].nps == -50
    assert [c.text for c in report.comments] == ["Te traag", "Vlot geregeld"]
    assert report.comments[0].customer_name == "Bakkerij Janssens"

    only_questions = satisfaction_report(date(2026, 1, 1), date(2026, 6, 30), "question")
    assert only_questions.overall.count == 2
    assert [kind for kind, _ in only_questions.kinds] == ["question"]
