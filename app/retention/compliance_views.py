"""The compliance dashboard: what is due for purge, the next and last runs, open access and
erasure requests with their legal deadline (one month), the "approve this dry run" action and
the country preset of the retention rules.

Only the Compliance officer and the Admin open it (the class name starts with "Retention":
app/core/roles.py COMPLIANCE_VIEWS).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import abort, flash, g, redirect, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import SelectField

from app.core.roles import SUBJECT_REQUEST_KINDS
from app.core.time import BUSINESS_TZ, business_today
from app.core.validation import ValidationError
from app.extensions import db
from app.retention.models import RETENTION_ACTIONS, RetentionRun

CATEGORY = "Compliance"


def counts_table(counts) -> Markup:
    """A run's figures per category as a small table (used on the run's page too)."""
    from app.retention.rules import CATEGORIES

    if not counts:
        return Markup("")
    rows = []
    for category, entry in counts.items():
        if category.startswith("_") or not isinstance(entry, dict):
            continue
        label = CATEGORIES[category].label if category in CATEGORIES else category
        samples = ", ".join(entry.get("samples", []))
        rows.append(Markup("<tr><td>%s</td><td>%s</td><td class='text-right'>%s</td>"
                           "<td class='text-right'>%s</td><td><small>%s</small></td></tr>")
                    % (label, RETENTION_ACTIONS.get(entry.get("action"), entry.get("action")),
                       entry.get("records", 0), entry.get("subjects", 0), samples))
    head = Markup("<tr><th>%s</th><th>%s</th><th class='text-right'>%s</th>"
                  "<th class='text-right'>%s</th><th>%s</th></tr>") % (
        _("Data category"), _("Then"), _("Records"), _("Customers"), _("Sample ids"))
    total = counts.get("_subjects")
    foot = Markup("<p>%s</p>") % _("Customers concerned: %(n)s", n=total) \
        if total is not None else Markup("")
    return Markup("<table class='table table-condensed retention-counts'>%s%s</table>%s") % (
        head, Markup("").join(rows), foot)


def next_run_at(now: datetime | None = None) -> datetime | None:
    from app.jobs import SCHEDULE

    job = next((j for j in SCHEDULE if j.func == "app.retention.jobs.daily"), None)
    if job is None:
        return None
    now = (now or datetime.now(BUSINESS_TZ)).astimezone(BUSINESS_TZ)
    hour, minute = (int(x) for x in job.at.split(":"))
    planned = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return planned if planned > now else planned + timedelta(days=1)


RUN_STATUSES = {"running": _l("running"), "done": _l("done"), "failed": _l("failed"),
                "interrupted": _l("interrupted")}


# Days before the legal deadline from which an open request shows as "due soon".
DEADLINE_WARNING_DAYS = 7


def legal_deadline(req) -> date:
    """The answer is due one month after receipt (GDPR art. 12(3)): a calendar month from the
    business date it arrived, whatever SLA hours the request queue uses."""
    from app.retention.purge import months_before

    received = (req.created_at or datetime.now(BUSINESS_TZ)).astimezone(BUSINESS_TZ).date()
    return months_before(received, -1)


def deadline_state(deadline: date, today: date | None = None) -> str:
    """"breached", "due_soon" or "on_time" against the legal deadline."""
    today = today or business_today()
    if deadline < today:
        return "breached"
    if deadline <= today + timedelta(days=DEADLINE_WARNING_DAYS):
        return "due_soon"
    return "on_time"


class PresetForm(FlaskForm):
    preset = SelectField(_l("Rules of"), choices=[])


class RetentionDashboardView(BaseView):
    route_base = "/compliance"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        from app.requests.models import REQUEST_KINDS, CustomerRequest
        from app.requests.services import OPEN_STATUSES
        from app.retention.purge import mark_interrupted
        from app.retention.rules import PRESETS

        mark_interrupted()  # a run whose process died no longer shows as running
        runs = list(db.session.scalars(select(RetentionRun).order_by(RetentionRun.id.desc())
                                       .limit(8)))
        latest_dry = db.session.scalar(select(RetentionRun).where(
            RetentionRun.dry_run.is_(True)).order_by(RetentionRun.id.desc()).limit(1))
        ran = None
        if latest_dry is not None:
            ran = db.session.scalar(select(RetentionRun).where(
                RetentionRun.source_run_id == latest_dry.id).limit(1))
        requests = list(db.session.scalars(
            select(CustomerRequest).where(CustomerRequest.kind.in_(SUBJECT_REQUEST_KINDS),
                                          CustomerRequest.status.in_(OPEN_STATUSES))
            .order_by(CustomerRequest.created_at, CustomerRequest.id)))
        deadlines = {req.id: legal_deadline(req) for req in requests}
        preset_form = PresetForm()
        preset_form.preset.choices = [(k, str(v)) for k, v in PRESETS.items()]
        from app.core.settings import get_setting

        preset_form.preset.data = get_setting("retention.preset")
        return self.render_template(
            "retention/dashboard.html", runs=runs, latest_dry=latest_dry, ran=ran,
            requests=requests, deadlines=deadlines, deadline_state=deadline_state,
            kinds=REQUEST_KINDS, run_statuses=RUN_STATUSES,
            next_run=next_run_at(), counts_table=counts_table, form=FlaskForm(),
            preset_form=preset_form, auto_purge=get_setting("retention.auto_purge"))

    @expose("/dry-run", methods=["POST"])
    @has_access
    def dry_run(self):
        if not FlaskForm().validate_on_submit():
            abort(400)
        from app.retention import purge

        run = purge.dry_run(triggered_by=_user())
        flash(_("Dry run #%(id)s is ready: nothing was changed. Check the figures, then "
                "approve it.", id=run.id), "success")
        return redirect(url_for("RetentionDashboardView.index"))

    @expose("/approve/<int(max=2147483647):run_id>", methods=["POST"])
    @has_access
    def approve(self, run_id: int):
        if not FlaskForm().validate_on_submit():
            abort(400)
        from app.jobs import enqueue
        from app.retention import purge

        dry = db.session.get(RetentionRun, run_id)
        if dry is None or not dry.dry_run:
            abort(404)
        if dry.approved_at is not None:
            flash(_("This dry run was already approved."), "warning")
            return redirect(url_for("RetentionDashboardView.index"))
        purge.approve(dry, _user())
        db.session.commit()
        enqueue("app.retention.jobs.run_approved", dry.id, _user(),
                job_id=f"retention-approved-{dry.id}")
        flash(_("Approved: the purge runs in the background. Its figures appear under "
                "Retention runs."), "success")
        return redirect(url_for("RetentionDashboardView.index"))

    @expose("/preset", methods=["POST"])
    @has_access
    def preset(self):
        from app.retention.rules import PRESETS, apply_preset

        form = PresetForm()
        form.preset.choices = [(k, str(v)) for k, v in PRESETS.items()]
        if not form.validate_on_submit():
            abort(400)
        try:
            changed = apply_preset(form.preset.data)
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            flash("; ".join(m for ms in exc.errors.values() for m in ms), "danger")
            return redirect(url_for("RetentionDashboardView.index"))
        flash(_("%(n)s retention rules now follow the law of %(country)s.", n=changed,
                country=PRESETS[form.preset.data]), "success")
        return redirect(url_for("RetentionDashboardView.index"))


def _user() -> str:
    user = getattr(g, "user", None)
    return str(getattr(user, "username", None) or "staff")


def escape_text(value) -> str:
    return str(escape(value))


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(RetentionDashboardView, "Compliance dashboard",
                        label=_l("Compliance dashboard"), icon="fa-dashboard", category=CATEGORY,
                        category_label=_l("Compliance"), category_icon="fa-shield")
