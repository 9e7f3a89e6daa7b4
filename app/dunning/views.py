"""Back office screens for dunning: policies and their levels, runs and what they did, rates.

Why one module of about 510 lines: the dunning screens (policies, levels, dry run, sending)
share their forms and formatting.
"""
from __future__ import annotations

from collections import Counter
from datetime import date

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from app.core import validation as v
from app.core.admin import (
    FilterCustomerText,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
    error_text,
    money_formatter,
    refuse,
    yes_no,
)
from app.core.i18n import day, moment
from app.core.time import business_today
from app.customers.models import COUNTRIES, Customer

# dry_run at import, not in the view: its snapshot figure must be registered in every process
# that starts the app, RQ workers too (they run its refresh job).
from app.dunning import dry_run, level_form
from app.dunning.defaults import shipped_description
from app.dunning.models import (
    DAY_BASES,
    FEE_RULES,
    HANDOVER_STATUSES,
    RATE_KINDS,
    RUN_STATUSES,
    SEGMENTS,
    TONES,
    DunningAction,
    DunningActionInvoice,
    DunningLevel,
    DunningPolicy,
    DunningRun,
    ReferenceRate,
)
from app.dunning.rates import is_stale
from app.dunning.reasons import render_json
from app.dunning.services import check_policy_deletable
from app.dunning.shipped_names import shipped_name
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.services import MAX_BLOCK_REASON, exclude_from_reminders, resume_reminders
from app.notifications.models import CHANNELS, MESSAGE_STATUSES, Message

CATEGORY = "Dunning"


def _channels(value: str | None) -> str:
    """'email,sms' -> 'E-mail, SMS' in the reader's language."""
    codes = [code.strip() for code in (value or "").split(",") if code.strip()]
    return ", ".join(str(CHANNELS.get(code, code)) for code in codes)


class DunningPolicyView(StaffModelView):
    datamodel = SQLAInterface(DunningPolicy)
    list_title = _l("Dunning policies")
    show_title = _l("Dunning policy")
    add_title = _l("Add a dunning policy")
    edit_title = _l("Edit dunning policy")
    label_columns = {"name": _l("Name"), "segment": _l("Customers"), "country": _l("Country"),
                     "active": _l("Active"), "description": _l("Description"),
                     "levels": _l("Levels"), "created_at": _l("Created at"),
                     "updated_at": _l("Updated at")}
    list_columns = ["name", "segment", "country", "active"]
    search_columns = ["name", "segment", "country", "active"]
    show_columns = ["name", "segment", "country", "active", "description", "created_at",
                    "updated_at"]
    add_columns = edit_columns = ["name", "segment", "country", "active", "description"]
    base_order = ("name", "asc")
    choice_columns = {"segment": SEGMENTS, "country": COUNTRIES}
    optional_choice_columns = ("country",)
    description_columns = {"country": _l("Leave empty for customers of any country.")}
    related_view_names = ("DunningLevelView",)
    formatters_columns = {"name": shipped_name, "description": shipped_description}

    def pre_delete(self, item: DunningPolicy) -> None:
        try:
            check_policy_deletable(item)  # customers following it keep a policy
        except v.ValidationError as exc:
            refuse(error_text(exc))


class DunningLevelView(StaffModelView):
    datamodel = SQLAInterface(DunningLevel)
    list_title = _l("Dunning levels")
    show_title = _l("Dunning level")
    add_title = _l("Add a dunning level")
    edit_title = _l("Edit dunning level")
    label_columns = {"policy": _l("Policy"), "sequence": _l("Step"), "name": _l("Name"),
                     "days_after_due": _l("Days after the due date"),
                     "min_days_since_previous": _l("Days since the previous reminder"),
                     "min_amount": _l("Minimum amount due"), "tone": _l("Tone"),
                     "channels": _l("Channels"), "template_key": _l("Message template"),
                     "fee_rule": _l("Fee"), "fee_amount": _l("Fixed fee amount"),
                     "days_basis": _l("Days counted from"), "active": _l("Active")}
    list_columns = ["policy", "sequence", "name", "active", "days_after_due", "tone", "channels",
                    "fee_rule"]
    search_columns = ["name", "tone", "fee_rule", "template_key", "days_after_due", "active"]
    show_columns = ["policy", "sequence", "name", "active", "days_after_due", "days_basis",
                    "min_days_since_previous", "min_amount", "tone", "channels", "template_key",
                    "fee_rule", "fee_amount"]
    add_columns = edit_columns = show_columns
    base_order = ("sequence", "asc")
    choice_columns = {"tone": TONES, "fee_rule": FEE_RULES, "days_basis": DAY_BASES}
    money_columns = ("min_amount", "fee_amount")
    formatters_columns = {"channels": _channels, "name": shipped_name}
    validators_columns = {
        "days_after_due": [level_form.check_days_after_due],
        "min_days_since_previous": [level_form.check_not_negative_days],
        "min_amount": [level_form.check_not_negative_amount],
        "fee_amount": [level_form.check_not_negative_amount],
    }
    add_template = "dunning/level_add.html"
    edit_template = "dunning/level_edit.html"
    add_form_extra_fields = edit_form_extra_fields = {
        "channels": level_form.ChannelsField(
            _l("Channels"), description=_l("The reminder goes out on each ticked channel the "
                                           "customer can be reached on.")),
        "template_key": level_form.ReminderTemplateField(
            _l("Message template"), description=_l("One of the reminder templates (Messages → "
                                                   "Message templates).")),
    }
    description_columns = {
        "days_after_due": _l("Negative for a notice before the due date (-3: three days "
                             "before). Only when days are counted from the due date."),
        "fee_amount": _l("Only for the fee rule \"Fixed amount per reminder\"."),
        "days_basis": _l("The due date, or the previous reminder (counted from the day it is "
                         "received: the next day for an e-mail, the 3rd working day for a "
                         "letter)."),
        "min_days_since_previous": _l("Counted from the day the previous reminder is "
                                      "received."),
        "active": _l("An inactive step is skipped (e.g. the optional notice before the due "
                     "date)."),
    }

    def pre_add(self, item: DunningLevel) -> None:
        self._check(item)

    def pre_update(self, item: DunningLevel) -> None:
        self._check(item)

    @staticmethod
    def _check(item: DunningLevel) -> None:
        message = level_form.refusal(item)
        if message:
            refuse(message)
        level_form.ignore_irrelevant(item)


class DunningRunView(ReadOnlyModelView):
    datamodel = SQLAInterface(DunningRun)
    list_title = _l("Dunning runs")
    show_title = _l("Dunning run")
    label_columns = {"run_date": _l("Date"), "dry_run": _l("Trial run"), "status": _l("Status"),
                     "started_at": _l("Started at"), "finished_at": _l("Finished at"),
                     "triggered_by": _l("Started by"), "counts": _l("Figures")}
    list_columns = ["run_date", "dry_run", "status", "started_at", "finished_at",
                    "triggered_by"]
    search_columns = ["run_date", "dry_run", "status"]
    show_columns = ["run_date", "dry_run", "status", "started_at", "finished_at",
                    "triggered_by", "counts"]
    base_order = ("started_at", "desc")
    choice_columns = {"status": RUN_STATUSES}
    related_view_names = ("DunningActionView",)


def explanation_html(value) -> Markup:
    """A stored explanation as a readable list, in the reader's language."""
    if not value:
        return Markup("")
    items = [Markup("<li>%s</li>") % render_json(r) for r in value.get("reasons", [])]
    for group in ("invoices", "excluded"):
        for inv in value.get(group, []):
            reasons = Markup("").join(Markup("<li>%s</li>") % render_json(r)
                                      for r in inv.get("reasons", []))
            items.append(Markup("<li><strong>%s</strong><ul>%s</ul></li>") % (
                inv.get("number", ""), reasons))
    return Markup('<ul class="dunning-explanation">%s</ul>') % Markup("").join(items)


class DunningActionView(ReadOnlyModelView):
    datamodel = SQLAInterface(DunningAction)
    list_title = _l("Reminders sent")
    show_title = _l("Reminder")
    label_columns = {"run": _l("Run"), "run_date": _l("Date"), "customer": _l("Customer"),
                     "level": _l("Level"), "invoice_ids": _l("Invoices"),
                     "amount_due": _l("Amount due"), "fee_amount": _l("Fee"),
                     "explanation": _l("Why"), "created_at": _l("Created at"),
                     "channels": _l("Channels"), "effective_on": _l("Counts as received on"),
                     "handover_status": _l("Collection agency"),
                     "handover_plugin": _l("Agency plugin"),
                     "handover_reference": _l("Agency reference"),
                     "handover_error": _l("Hand-over problem"),
                     "handed_over_at": _l("Handed over at")}
    list_columns = ["run_date", "customer", "level", "amount_due", "fee_amount", "channels",
                    "handover_status"]
    search_columns = ["run_date", "customer", "amount_due", "handover_status"]
    show_columns = ["run_date", "customer", "level", "amount_due", "fee_amount", "channels",
                    "effective_on", "explanation", "handover_status", "handover_plugin",
                    "handover_reference", "handover_error", "handed_over_at", "created_at"]
    base_order = ("run_date", "desc")
    money_columns = ("amount_due", "fee_amount")
    choice_columns = {"handover_status": HANDOVER_STATUSES}
    formatters_columns = {"explanation": explanation_html, "channels": _channels}
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}


class DunningActionInvoiceView(ModelView):
    """The reminders one invoice was listed in (a list on the invoice's page).

    A plain read-only ModelView: it only ever shows inside an invoice's page.
    """

    datamodel = SQLAInterface(DunningActionInvoice)
    base_permissions = ["can_list", "can_show"]
    list_title = _l("Reminders for this invoice")
    show_title = _l("Reminder for an invoice")
    label_columns = {"run_date": _l("Date"), "action": _l("Reminder"),
                     "level_sequence": _l("Level"), "advanced": _l("New level"),
                     "days_late": _l("Days late"), "amount": _l("Amount reminded"),
                     "fees": _l("Fees claimed"), "invoice": _l("Invoice")}
    list_columns = ["run_date", "action", "level_sequence", "advanced", "days_late", "amount",
                    "fees"]
    show_columns = ["run_date", "invoice", "action", "level_sequence", "advanced", "days_late",
                    "amount", "fees"]
    search_columns = ["run_date"]
    base_order = ("run_date", "desc")
    formatters_columns = {"amount": money_formatter, "fees": money_formatter,
                          "advanced": yes_no, "run_date": day}


class ReferenceRateView(StaffModelView):
    datamodel = SQLAInterface(ReferenceRate)
    list_title = _l("Reference interest rates")
    show_title = _l("Reference interest rate")
    add_title = _l("Add a reference rate")
    edit_title = _l("Edit reference rate")
    label_columns = {"kind": _l("Rate"), "valid_from": _l("Valid from"),
                     "rate": _l("Rate (%)"), "note": _l("Note")}
    list_columns = ["kind", "valid_from", "rate", "note"]
    search_columns = ["kind", "valid_from"]
    show_columns = add_columns = edit_columns = ["kind", "valid_from", "rate", "note"]
    base_order = ("valid_from", "desc")
    choice_columns = {"kind": RATE_KINDS}


# --- The dry run screen --------------------------------------------------------------------------
PAGE_SIZE = 50


class DunningDryRunView(BaseView):
    """What a run on a chosen date would do, per customer, and why. Changes nothing."""

    route_base = "/dunning/dry-run"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        from app.dunning.engine import OUTCOMES

        errors = v.Errors()
        run_date = v.a_date(request.args, "date", errors)
        if errors.errors.get("date"):
            # An impossible date (2026-02-30) is said, not silently replaced by today.
            return self.render_template(
                "dunning/bad_date.html", messages=errors.errors["date"],
                value=request.args.get("date", "")), 400
        run_date = run_date or business_today()
        outcome = request.args.get("outcome") or "remind"
        if outcome not in (*OUTCOMES, "all"):
            errors.add("outcome", _("Unknown outcome: %(value)s.", value=outcome))
            outcome = "remind"
        page = v.integer(request.args, "page", errors, minimum=1, maximum=100000) or 1
        text = (request.args.get("customer") or "").strip()[:100]
        for field, messages in errors.errors.items():
            for message in messages:
                flash(f"{field}: {message}", "danger")
        ids = None
        if text:
            ids = list(db.session.scalars(
                select(Customer.id).where(or_(Customer.number == text,
                                              Customer.name.ilike(f"%{text}%")))
                .order_by(Customer.id).limit(200)))
        shown = dry_run.dry_run_page(run_date, outcome, page, PAGE_SIZE, customer_ids=ids)
        if is_stale("ecb", run_date):
            flash(_("No ECB reference rate for this half-year yet: interest uses the last known "
                    "rate. Add the new rate under Dunning → Reference rates."), "warning")
        return self.render_template(
            "dunning/dry_run.html", run_date=run_date, outcome=outcome, customer=text,
            counts=shown.counts, decisions=shown.decisions, total=shown.total, page=shown.page,
            pages=shown.pages, as_of=shown.as_of, refreshing=shown.refreshing,
            changed=shown.changed, refresh_form=FlaskForm(), outcomes=OUTCOME_LABELS,
            tones=TONES, may_send=may_send() and run_date <= business_today(),
            level_name=level_label, moment=moment)

    @expose("/refresh", methods=["POST"])
    @has_access
    @permission_name("list")
    def refresh(self):
        """Staff ask for the figures of a date computed again now (a few seconds at 1M)."""
        if not FlaskForm().validate_on_submit():
            abort(400)
        errors = v.Errors()
        run_date = v.a_date(request.form, "date", errors, required=True)
        if run_date is None:
            return self.render_template("dunning/bad_date.html",
                                        messages=errors.errors.get("date", []),
                                        value=request.form.get("date", "")), 400
        dry_run.refresh(run_date)
        flash(_("The dry run of %(date)s was computed again.", date=day(run_date)), "success")
        return redirect(url_for("DunningDryRunView.list", date=run_date.isoformat(),
                                outcome=request.form.get("outcome") or None))


OUTCOME_LABELS = {
    "remind": _l("Reminded"), "postponed": _l("Postponed"), "waiting": _l("Waiting"),
    "excluded": _l("Excluded"), "not_due": _l("Nothing due"), "done": _l("Already done"),
}


# --- Sending the reminders from the screen -------------------------------------------------------
REMIND = "remind"  # app.dunning.engine.REMIND


def may_send() -> bool:
    """Credit manager and Admin (app/core/roles.py: DunningSendView is a policy screen)."""
    return bool(current_app.appbuilder.sm.has_access("can_send", "DunningSendView"))


def level_label(level) -> str:
    """A level's name as the reader should see it (shipped names translated)."""
    return shipped_name(level.name)


def _send_date(source) -> tuple[date | None, list[str]]:
    """The run date of a send: a real date, not in the future (a run sends real reminders)."""
    errors = v.Errors()
    run_date = v.a_date(source, "date", errors, required=True)
    if run_date is not None and run_date > business_today():
        errors.add("date", _("Reminders cannot be sent for a date in the future (%(date)s).",
                             date=day(run_date)))
    return (None if errors.errors else run_date), errors.errors.get("date", [])


def reminder_counts(decisions) -> list[tuple[str, str, int]]:
    """[(level, channel, customers)] of the customers a run would remind, in level order."""
    counted: Counter = Counter()
    order: dict[str, tuple] = {}
    for decision in decisions:
        if decision.outcome != REMIND or decision.level is None:
            continue
        name = level_label(decision.level)
        order.setdefault(name, (decision.level.sequence, name))
        for channel in decision.level.channels:
            counted[(name, channel)] += 1
    return [(name, str(CHANNELS.get(channel, channel)), n)
            for (name, channel), n in sorted(counted.items(),
                                             key=lambda kv: (order[kv[0][0]], kv[0][1]))]


class DunningSendView(BaseView):
    """Send the reminders of a date: a confirmation, the run in the background, its page."""

    route_base = "/dunning/send"
    default_view = "confirm"

    @expose("/", methods=["GET"])
    @has_access
    @permission_name("send")
    def confirm(self):
        from app.dunning.engine import evaluate

        run_date, messages = _send_date(request.args)
        if run_date is None:
            return self.render_template("dunning/bad_date.html", messages=messages,
                                        value=request.args.get("date", "")), 400
        evaluation = evaluate(run_date)
        return self.render_template(
            "dunning/send_confirm.html", run_date=run_date, form=FlaskForm(),
            total=evaluation.counts[REMIND], rows=reminder_counts(evaluation.decisions),
            running=_current_run(run_date))

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("send")
    def send(self):
        from app.jobs import enqueue

        if not FlaskForm().validate_on_submit():
            abort(400)
        run_date, messages = _send_date(request.form)
        if run_date is None:
            return self.render_template("dunning/bad_date.html", messages=messages,
                                        value=request.form.get("date", "")), 400
        current = _current_run(run_date)
        if current is not None and current.status == "running":
            # The engine's lease would refuse a second run anyway; say it before queueing one.
            flash(_("A run for this date is in progress: nothing more is sent. Its progress "
                    "is below."), "warning")
        else:
            enqueue("app.dunning.jobs.run_from_screen", run_date.isoformat(),
                    getattr(g.user, "username", None),
                    job_id=f"dunning-screen-{run_date.isoformat()}")
            flash(_("The reminders of %(date)s are being sent. Each customer gets each reminder "
                    "once, even if the run is started again.", date=day(run_date)), "info")
        return redirect(url_for("DunningSendView.run_page", run_date=run_date.isoformat()))

    @expose("/run/<run_date>")
    @has_access
    @permission_name("show")
    def run_page(self, run_date: str):
        errors = v.Errors()
        parsed = v.a_date({"date": run_date}, "date", errors, required=True)
        if parsed is None:
            return self.render_template("dunning/bad_date.html",
                                        messages=errors.errors.get("date", []),
                                        value=run_date), 400
        row = _current_run(parsed)
        actions = list(db.session.scalars(
            select(DunningAction).where(DunningAction.run_date == parsed)
            .options(selectinload(DunningAction.customer), selectinload(DunningAction.level))
            .order_by(DunningAction.id)))
        message_ids = [i for a in actions for i in (a.message_ids or [])]
        messages = {m.id: m for m in db.session.scalars(
            select(Message).where(Message.id.in_(message_ids)))} if message_ids else {}
        per_level: Counter = Counter()
        for action in actions:
            for channel in (action.channels or "").split(","):
                if channel.strip():
                    per_level[(action.level.sequence if action.level else 0,
                               level_label(action.level) if action.level else "",
                               str(CHANNELS.get(channel.strip(), channel)))] += 1
        counts = dict(row.counts or {}) if row is not None else {}
        running = row is None or row.status == "running"
        return self.render_template(
            "dunning/send_run.html", run_date=parsed, run=row, actions=actions,
            messages=messages, per_level=sorted(per_level.items()), running=running,
            done=counts.get("progress_done"), total=counts.get("progress_total"),
            statuses=RUN_STATUSES, channels=CHANNELS, level_name=level_label,
            message_statuses=MESSAGE_STATUSES)


def _current_run(run_date: date) -> DunningRun | None:
    return db.session.scalar(select(DunningRun).where(DunningRun.run_date == run_date,
                                                      DunningRun.dry_run.is_(False))
                             .order_by(DunningRun.id).limit(1))


# --- Excluding an invoice from reminders by hand ------------------------------------------------
class ExclusionForm(FlaskForm):
    reason = TextAreaField(_l("Why reminders stop for this invoice"),
                           validators=[DataRequired(_l("Say why reminders stop for this "
                                                       "invoice.")),
                                       Length(max=MAX_BLOCK_REASON)])


class DunningExclusionView(BaseView):
    """Reached from an invoice's page (action "Exclude from reminders")."""

    route_base = "/dunning/exclusion"
    default_view = "exclude"

    @expose("/<int:invoice_id>", methods=["GET", "POST"])
    @has_access
    def exclude(self, invoice_id: int):
        invoice = db.session.get(Invoice, invoice_id) or abort(404)
        form = ExclusionForm()
        if form.validate_on_submit():
            try:
                exclude_from_reminders(invoice, form.reason.data,
                                       getattr(g.user, "username", None))
            except v.ValidationError as exc:
                db.session.rollback()
                form.reason.errors = list(form.reason.errors) + exc.errors.get("reason", [])
            else:
                db.session.commit()
                flash(_("Invoice %(number)s is excluded from reminders.",
                        number=invoice.number), "success")
                return redirect(url_for("InvoiceView.show", pk=invoice.id))
        return self.render_template("dunning/exclude.html", invoice=invoice, form=form,
                                    lift_form=FlaskForm())

    @expose("/<int:invoice_id>/lift", methods=["POST"])
    @has_access
    def lift(self, invoice_id: int):
        invoice = db.session.get(Invoice, invoice_id) or abort(404)
        if not FlaskForm().validate_on_submit():
            abort(400)
        resume_reminders(invoice)
        db.session.commit()
        flash(_("Reminders resume for invoice %(number)s.", number=invoice.number), "success")
        return redirect(url_for("InvoiceView.show", pk=invoice.id))


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(DunningPolicyView, "Dunning policies", label=_l("Dunning policies"),
                        icon="fa-sitemap", category=CATEGORY, category_label=_l("Dunning"),
                        category_icon="fa-bell")
    appbuilder.add_view(DunningLevelView, "Dunning levels", label=_l("Dunning levels"),
                        icon="fa-sort-numeric-asc", category=CATEGORY)
    appbuilder.add_view(DunningRunView, "Dunning runs", label=_l("Dunning runs"),
                        icon="fa-play-circle", category=CATEGORY)
    appbuilder.add_view(DunningActionView, "Reminders sent", label=_l("Reminders sent"),
                        icon="fa-envelope", category=CATEGORY)
    appbuilder.add_view(ReferenceRateView, "Reference rates", label=_l("Reference rates"),
                        icon="fa-percent", category=CATEGORY)
    appbuilder.add_view(DunningDryRunView, "Dunning dry run", label=_l("Dry run"),
                        icon="fa-eye", category=CATEGORY)
    appbuilder.add_view_no_menu(DunningActionInvoiceView)
    appbuilder.add_view_no_menu(DunningExclusionView)
    appbuilder.add_view_no_menu(DunningSendView)
