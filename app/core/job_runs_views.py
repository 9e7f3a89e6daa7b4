"""Scheduled jobs (Admin): each daily job's planned time, last enqueue, start, end and result,
and whether today's run is late; below, the latest runs.

Only the Admin opens it (app/core/roles.py OPERATIONS_VIEWS).
"""
from __future__ import annotations

from babel import dates
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from app.core import job_runs
from app.core.i18n import LC_DEFAULT, current_locale
from app.core.settings import get_setting
from app.core.time import BUSINESS_TZ


def when(value) -> str:
    """A timestamp in Europe/Brussels, written the way the reader's locale writes it."""
    if value is None:
        return ""
    return dates.format_datetime(value, "short", tzinfo=BUSINESS_TZ,
                                 locale=current_locale() or LC_DEFAULT)


class ScheduledJobView(BaseView):
    route_base = "/scheduled-jobs"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template(
            "admin/scheduled_jobs.html", states=job_runs.job_states(),
            runs=job_runs.recent_runs(), when=when, labels=job_runs.STATUS_LABELS,
            late_after=get_setting("scheduler.late_after_minutes"))


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(ScheduledJobView, "Scheduled jobs", label=_l("Scheduled jobs"),
                        icon="fa-clock-o", category="Settings", category_label=_l("Settings"),
                        category_icon="fa-cogs")
