"""The satisfaction report: survey answers of answered requests, per month and per request kind.

NPS (Net Promoter Score) = % promoters (9-10) minus % detractors (0-6), from -100 to +100;
7-8 are "passives". Months are the month the customer answered, in Brussels time. Rows are
grouped here in Python over a few columns rather than with each database's own date functions.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from app.core.time import BUSINESS_TZ, business_today
from app.customers.models import Customer
from app.extensions import db
from app.requests.models import CustomerRequest

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
COMMENTS_SHOWN = 100


@dataclass
class Score:
    count: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    total: int = 0

    def add(self, score: int) -> None:
        self.count += 1
        self.total += score
        if score >= PROMOTER_MIN:
            self.promoters += 1
        elif score <= DETRACTOR_MAX:
            self.detractors += 1
        else:
            self.passives += 1

    @property
    def nps(self) -> int | None:
        if not self.count:
            return None
        value = Decimal(100 * (self.promoters - self.detractors)) / self.count
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def average(self) -> Decimal | None:
        if not self.count:
            return None
        return (Decimal(self.total) / self.count).quantize(Decimal("0.1"), ROUND_HALF_UP)


def score_of(values: Iterable[int]) -> Score:
    found = Score()
    for value in values:
        found.add(value)
    return found


@dataclass
class Comment:
    request_id: int
    kind: str
    score: int
    text: str
    answered_at: datetime
    customer_name: str


@dataclass
class SatisfactionReport:
    date_from: date
    date_to: date
    kind: str | None
    overall: Score = field(default_factory=Score)
    months: list[tuple[date, Score]] = field(default_factory=list)  # first day of the month
    kinds: list[tuple[str, Score]] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TZ)


def satisfaction_report(date_from: date | None = None, date_to: date | None = None,
                        kind: str | None = None) -> SatisfactionReport:
    """Answers given from ``date_from`` to ``date_to`` (business dates, both included; default:
    the last twelve months up to today), optionally for one request kind."""
    date_to = date_to or business_today()
    date_from = date_from or (date_to.replace(day=1) - timedelta(days=335)).replace(day=1)
    query = (select(CustomerRequest.id, CustomerRequest.kind, CustomerRequest.satisfaction_score,
                    CustomerRequest.satisfaction_comment, CustomerRequest.satisfaction_at,
                    Customer.name)
             .join(Customer, Customer.id == CustomerRequest.customer_id)
             .where(CustomerRequest.satisfaction_score.is_not(None),
                    CustomerRequest.satisfaction_at >= _start(date_from),
                    CustomerRequest.satisfaction_at < _start(date_to + timedelta(days=1)))
             .order_by(CustomerRequest.satisfaction_at.desc(), CustomerRequest.id.desc()))
    if kind:
        query = query.where(CustomerRequest.kind == kind)
    report = SatisfactionReport(date_from=date_from, date_to=date_to, kind=kind)
    by_month: dict[date, Score] = defaultdict(Score)
    by_kind: dict[str, Score] = defaultdict(Score)
    for request_id, request_kind, score, comment, answered_at, name in db.session.execute(query):
        month = answered_at.astimezone(BUSINESS_TZ).date().replace(day=1)
        report.overall.add(score)
        by_month[month].add(score)
        by_kind[request_kind].add(score)
        if comment and len(report.comments) < COMMENTS_SHOWN:
            report.comments.append(Comment(request_id, request_kind, score, comment,
                                           answered_at, name))
    report.months = sorted(by_month.items())
    report.kinds = sorted(by_kind.items(), key=lambda item: (-item[1].count, item[0]))
    return report
