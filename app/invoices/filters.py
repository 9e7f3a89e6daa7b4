"""Back office list filters on invoices: overdue by more / at most N days, due within N days.

Open invoices only. Declared on the invoice screen (views.py: ``extra_filters``); the home page
links to them by class name (app/insights/dashboard.py).
"""
from __future__ import annotations

from datetime import date, timedelta

from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l

from app.core.time import business_today
from app.invoices.models import invoice_is_open


def _days(value) -> int | None:
    try:
        days = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return days if 0 <= days <= 36500 else None


class _OpenDueDateFilter(BaseFilter):
    """Base for filters that take a number of days and look at open invoices only."""

    def apply(self, query, value):
        days = _days(value)
        if days is None:
            return query  # not a number: ignored, like FAB's own filters do
        column = getattr(self.model, self.column_name)
        return query.filter(invoice_is_open(self.model.status),
                            *self.conditions(column, business_today(), days))

    def conditions(self, column, today: date, days: int):
        raise NotImplementedError


class FilterOverdueMoreThan(_OpenDueDateFilter):
    name = _l("Overdue by more than (days)")
    arg_name = "overdue_gt"

    def conditions(self, column, today, days):
        return [column < today - timedelta(days=days)]


class FilterOverdueAtMost(_OpenDueDateFilter):
    name = _l("Overdue, by at most (days)")
    arg_name = "overdue_le"

    def conditions(self, column, today, days):
        return [column < today, column >= today - timedelta(days=days)]


class FilterDueWithin(_OpenDueDateFilter):
    name = _l("Due within (days)")
    arg_name = "due_within"

    def conditions(self, column, today, days):
        return [column >= today, column <= today + timedelta(days=days)]
