"""Figures for the back office home page."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app.core.models import ZERO
from app.core.time import business_today
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice
from app.requests.models import CustomerRequest

OPEN_REQUEST_STATUSES = ("received", "in_review")


def dashboard_figures(today: date | None = None) -> dict[str, Decimal | int]:
    today = today or business_today()
    open_filter = Invoice.status.in_(OPEN_STATUSES)
    total_open = db.session.scalar(select(func.coalesce(func.sum(Invoice.open_amount), 0)).where(open_filter))
    total_overdue = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.open_amount), 0)).where(open_filter, Invoice.due_date < today)
    )
    overdue_count = db.session.scalar(
        select(func.count()).select_from(Invoice).where(open_filter, Invoice.due_date < today)
    )
    open_requests = db.session.scalar(
        select(func.count()).select_from(CustomerRequest).where(
            CustomerRequest.status.in_(OPEN_REQUEST_STATUSES)
        )
    )
    return {
        "total_open": Decimal(total_open or ZERO),
        "total_overdue": Decimal(total_overdue or ZERO),
        "overdue_count": overdue_count or 0,
        "open_requests": open_requests or 0,
    }
