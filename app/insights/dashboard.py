"""Figures for the back office home page, and the links from each figure to the filtered list."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask import abort, current_app, g, has_request_context, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.core.models import ZERO, utcnow
from app.core.time import business_today
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice, invoice_is_open
from app.requests.models import CustomerRequest

OPEN_REQUEST_STATUSES = ("received", "in_review")


@dataclass(frozen=True)
class Bucket:
    """Open invoices overdue by more than `above` days and at most `up_to` days (None: no end)."""

    label: object
    above: int
    up_to: int | None


OVERDUE_BUCKETS = (
    Bucket(_l("1–30 days"), 0, 30),
    Bucket(_l("31–60 days"), 30, 60),
    Bucket(_l("61–90 days"), 60, 90),
    Bucket(_l("More than 90 days"), 90, None),
)


def _invoice_figures(today: date) -> dict:
    """Every invoice figure of the page in one aggregation over the open invoices.

    One pass (SUM/COUNT ... FILTER) instead of one query per figure; on PostgreSQL the partial
    index ix_invoice_open_cover holds every column it reads (index-only scan of the open
    invoices, never the million paid ones).
    """
    due = Invoice.due_date
    conditions = {"total": None, "overdue": due < today,
                  "due_soon": (due >= today) & (due <= today + timedelta(days=7))}
    for n, bucket in enumerate(OVERDUE_BUCKETS):
        condition = due < today - timedelta(days=bucket.above)
        if bucket.up_to is not None:
            condition &= due >= today - timedelta(days=bucket.up_to)
        conditions[f"bucket{n}"] = condition
    columns = []
    for name, condition in conditions.items():
        amount, count = func.sum(Invoice.open_amount), func.count()
        if condition is not None:
            amount, count = amount.filter(condition), count.filter(condition)
        columns += [func.coalesce(amount, 0).label(f"{name}_amount"), count.label(f"{name}_n")]
    record = db.session.execute(select(*columns).select_from(Invoice)
                                .where(invoice_is_open())).one()._mapping
    return {name: (Decimal(record[f"{name}_amount"] or ZERO), record[f"{name}_n"] or 0)
            for name in conditions}


def dashboard_figures(today: date | None = None) -> dict:
    _require_staff_login()
    today = today or business_today()
    figures = _invoice_figures(today)
    total_open, open_count = figures["total"]
    total_overdue, overdue_count = figures["overdue"]
    due_soon, due_soon_count = figures["due_soon"]
    buckets = []
    for n, bucket in enumerate(OVERDUE_BUCKETS):
        amount, count = figures[f"bucket{n}"]
        buckets.append({"label": bucket.label, "amount": amount, "count": count,
                        "url": _overdue_url(bucket)})
    open_requests, late_requests = db.session.execute(
        select(func.count(),
               func.count().filter(CustomerRequest.sla_due_at <= utcnow()))
        .select_from(CustomerRequest).where(CustomerRequest.status.in_(OPEN_REQUEST_STATUSES))
    ).one()
    return {
        "total_open": total_open,
        "open_count": open_count,
        "total_overdue": total_overdue,
        "overdue_count": overdue_count,
        "due_soon": due_soon,
        "due_soon_count": due_soon_count,
        "open_requests": open_requests or 0,
        # Open requests past their answer time (SLA), the same rule as the list it links to.
        "late_requests": late_requests or 0,
        "buckets": buckets,
        "links": _links(),
        "work": _work_queues(),
    }


def _work_queues() -> list:
    """The signed-in staff member's queues with their counts (app/insights/workqueues.py)."""
    if not has_request_context():
        return []
    from app.insights.workqueues import work_queues

    return work_queues()


def _require_staff_login() -> None:
    """The home page is for staff only.

    Stopgap: DashboardIndexView.index (app/backoffice.py) should check this itself; until it
    does, the figures refuse to be computed for a visitor who is not logged in.
    """
    if not has_request_context():
        return
    user = getattr(g, "user", None)
    if user is None or not user.is_authenticated:
        abort(redirect(url_for(f"{current_app.appbuilder.sm.auth_view.endpoint}.login",
                               next=request.full_path if request.args else None)))


# --- Links into the lists, with the list's own filters applied -------------------------------

def _view(name: str):
    if not has_request_context():
        return None
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == name:
            return view
    return None


def _list_url(view_name: str, *filters) -> str | None:
    """URL of a list with filters (column, filter class name, value); None if not allowed."""
    view = _view(view_name)
    if view is None or not current_app.appbuilder.sm.has_access("can_list", view_name):
        return None
    args: dict = {}
    for column, filter_name, value in filters:
        filter_class = next(type(f) for f in view._filters._all_filters[column]
                            if type(f).__name__ == filter_name)
        args.update(view.filter_args(column, filter_class, value))
    return url_for(f"{view_name}.list", **args)


def _overdue_url(bucket: Bucket) -> str | None:
    filters = [("due_date", "FilterOverdueMoreThan", bucket.above)]
    if bucket.up_to is not None:
        filters.append(("due_date", "FilterOverdueAtMost", bucket.up_to))
    return _list_url("InvoiceView", *filters)


def _links() -> dict:
    if not has_request_context():
        return {}
    return {
        "open": _list_url("InvoiceView", ("status", "FilterIn", list(OPEN_STATUSES))),
        "overdue": _list_url("InvoiceView", ("due_date", "FilterOverdueMoreThan", 0)),
        "due_soon": _list_url("InvoiceView", ("due_date", "FilterDueWithin", 7)),
        "open_requests": _list_url("CustomerRequestView",
                                   ("status", "FilterIn", list(OPEN_REQUEST_STATUSES))),
        "late_requests": _list_url("CustomerRequestView",
                                   ("sla_due_at", "FilterAnswerDueWithinHours", 0)),
    }
