"""Back office screens for dunning: policies and their levels, runs and what they did, rates."""
from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.core.admin import (
    FilterCustomerText,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
    form_validator,
    refuse,
)
from app.customers.models import COUNTRIES, Customer
from app.dunning.models import (
    FEE_RULES,
    RATE_KINDS,
    RUN_STATUSES,
    SEGMENTS,
    TONES,
    DunningAction,
    DunningLevel,
    DunningPolicy,
    DunningRun,
    ReferenceRate,
)
from app.extensions import db
from app.notifications.models import CHANNELS

CATEGORY = "Dunning"


def _channels(value: str | None) -> str:
    """'email,sms' -> 'E-mail, SMS' in the reader's language."""
    codes = [code.strip() for code in (value or "").split(",") if code.strip()]
    return ", ".join(str(CHANNELS.get(code, code)) for code in codes)


def _check_channels(value: str) -> None:
    unknown = [c.strip() for c in value.split(",") if c.strip() and c.strip() not in CHANNELS]
    if unknown:
        raise ValueError(_("Unknown channel: %(value)s. Use: %(choices)s.",
                           value=", ".join(unknown), choices=", ".join(CHANNELS)))


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

    def pre_delete(self, item: DunningPolicy) -> None:
        used = db.session.scalar(select(func.count()).select_from(Customer)
                                 .where(Customer.dunning_policy_id == item.id))
        if used:
            refuse(_("%(n)s customers follow this policy: give them another one first, or "
                     "make this one inactive.", n=used))


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
                     "fee_rule": _l("Fee"), "fee_amount": _l("Fixed fee amount")}
    list_columns = ["policy", "sequence", "name", "days_after_due", "tone", "channels",
                    "fee_rule"]
    search_columns = ["name", "tone", "fee_rule", "template_key", "days_after_due"]
    show_columns = ["policy", "sequence", "name", "days_after_due", "min_days_since_previous",
                    "min_amount", "tone", "channels", "template_key", "fee_rule", "fee_amount"]
    add_columns = edit_columns = show_columns
    base_order = ("sequence", "asc")
    choice_columns = {"tone": TONES, "fee_rule": FEE_RULES}
    money_columns = ("min_amount", "fee_amount")
    formatters_columns = {"channels": _channels}
    validators_columns = {"channels": [form_validator(_check_channels)]}
    description_columns = {
        "days_after_due": _l("Negative for a notice before the due date (-3: three days "
                             "before)."),
        "channels": _l("One or more of: email, sms, letter, webhook — separated by commas."),
        "template_key": _l("The key of the message template to send."),
    }


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


class DunningActionView(ReadOnlyModelView):
    datamodel = SQLAInterface(DunningAction)
    list_title = _l("Reminders sent")
    show_title = _l("Reminder")
    label_columns = {"run": _l("Run"), "run_date": _l("Date"), "customer": _l("Customer"),
                     "level": _l("Level"), "invoice_ids": _l("Invoices"),
                     "amount_due": _l("Amount due"), "fee_amount": _l("Fee"),
                     "explanation": _l("Why"), "created_at": _l("Created at")}
    list_columns = ["run_date", "customer", "level", "amount_due", "fee_amount"]
    search_columns = ["run_date", "customer", "amount_due"]
    show_columns = ["run_date", "customer", "level", "invoice_ids", "amount_due", "fee_amount",
                    "explanation", "created_at"]
    base_order = ("run_date", "desc")
    money_columns = ("amount_due", "fee_amount")
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}


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
