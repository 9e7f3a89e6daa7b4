"""Back office screens for GDPR retention: rules, legal holds, purge runs and the audit trail.

All of them are in the "Compliance" menu, which only the Compliance officer and the Admin see
(app/core/roles.py).
"""
from __future__ import annotations

from flask import g
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.core.admin import (
    FilterCustomerText,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
    refuse,
)
from app.core.validation import ValidationError
from app.retention import subject  # noqa: F401  (registers the "erasure" decision handler)
from app.retention.compliance_views import counts_table
from app.retention.holds import change_hold, place_hold
from app.retention.models import (
    COUNTS_FROM,
    RETENTION_ACTIONS,
    LegalHold,
    RetentionRule,
    RetentionRun,
    RetentionTombstone,
)
from app.retention.rules import CATEGORIES, check_rule

CATEGORY = "Compliance"
RUN_STATUSES = {"running": _l("Running"), "done": _l("Done"), "failed": _l("Failed")}


class RetentionRuleView(StaffModelView):
    datamodel = SQLAInterface(RetentionRule)
    list_title = _l("Retention rules")
    show_title = _l("Retention rule")
    add_title = _l("Add a retention rule")
    edit_title = _l("Edit retention rule")
    label_columns = {"category": _l("Data category"), "period_months": _l("Kept for (months)"),
                     "counts_from": _l("Counted from"), "action": _l("Then"),
                     "legal_basis": _l("Legal basis (English)"),
                     "legal_basis_fr": _l("Legal basis (French)"),
                     "legal_basis_nl": _l("Legal basis (Dutch)"), "active": _l("Active")}
    description_columns = {
        "period_months": _l("How long the data is kept before the action below."),
        "legal_basis": _l("Shown on screen and told to customers whose erasure request "
                          "cannot reach this data."),
    }
    list_columns = ["category", "period_months", "counts_from", "action", "legal_basis",
                    "active"]
    search_columns = ["category", "counts_from", "action", "active"]
    show_columns = add_columns = edit_columns = ["category", "period_months", "counts_from",
                                                 "action", "legal_basis", "legal_basis_fr",
                                                 "legal_basis_nl", "active"]
    base_order = ("category", "asc")
    choice_columns = {"category": {k: v.label for k, v in CATEGORIES.items()},
                      "counts_from": COUNTS_FROM, "action": RETENTION_ACTIONS}

    def pre_add(self, item: RetentionRule) -> None:
        self._check(item)

    def pre_update(self, item: RetentionRule) -> None:
        self._check(item)

    @staticmethod
    def _check(item: RetentionRule) -> None:
        try:
            check_rule(item.category, item.period_months, item.counts_from, item.action)
        except ValidationError as exc:
            refuse(" ".join(m for messages in exc.errors.values() for m in messages))


class LegalHoldView(StaffModelView):
    datamodel = SQLAInterface(LegalHold)
    list_title = _l("Legal holds")
    show_title = _l("Legal hold")
    add_title = _l("Put a customer's data on hold")
    edit_title = _l("Edit legal hold")
    label_columns = {"customer": _l("Customer"), "reason": _l("Reason"),
                     "until": _l("Until"), "created_at": _l("Created at"),
                     "released_at": _l("Released at")}
    list_columns = ["customer", "reason", "until", "created_at", "released_at"]
    search_columns = ["customer", "until", "created_at", "released_at"]
    show_columns = ["customer", "reason", "until", "created_at", "released_at"]
    # Released (its release date), never deleted: the record shows the hold existed.
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    add_columns = ["customer", "reason", "until"]
    edit_columns = ["reason", "until", "released_at"]
    base_order = ("created_at", "desc")
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}

    # Set and changed through app.retention.holds: the reason is required and who set the
    # hold is recorded (never typed in, nor sent in a forged form).
    def create_from_form(self, form) -> LegalHold:
        return place_hold(form.customer.data, form.reason.data, form.until.data, g.user)

    def update_from_form(self, hold: LegalHold, form) -> LegalHold:
        change_hold(hold, form.reason.data, form.until.data, form.released_at.data)
        return hold


class RetentionRunView(ReadOnlyModelView):
    datamodel = SQLAInterface(RetentionRun)
    list_title = _l("Retention runs")
    show_title = _l("Retention run")
    label_columns = {"dry_run": _l("Trial run"), "status": _l("Status"),
                     "started_at": _l("Started at"), "finished_at": _l("Finished at"),
                     "triggered_by": _l("Started by"), "counts": _l("Figures")}
    label_columns.update({"as_of": _l("Periods counted back from"),
                          "approved_by": _l("Approved by"), "approved_at": _l("Approved at"),
                          "longest_transaction_ms": _l("Longest transaction (ms)"),
                          "pending_files": _l("Files still to delete"), "error": _l("Error"),
                          "source_run": _l("Approved dry run")})
    list_columns = ["started_at", "dry_run", "status", "as_of", "finished_at", "triggered_by",
                    "approved_by"]
    search_columns = ["dry_run", "status", "started_at"]
    show_columns = ["started_at", "dry_run", "status", "as_of", "finished_at", "triggered_by",
                    "approved_by", "approved_at", "longest_transaction_ms", "counts",
                    "pending_files", "error"]
    base_order = ("started_at", "desc")
    choice_columns = {"status": RUN_STATUSES}
    formatters_columns = {"counts": counts_table}
    related_view_names = ("RetentionTombstoneView",)


class RetentionTombstoneView(ReadOnlyModelView):
    """What each run did to each subject, without personal data (replayable after a restore)."""

    datamodel = SQLAInterface(RetentionTombstone)
    list_title = _l("Tombstones")
    show_title = _l("Tombstone")
    label_columns = {"run": _l("Run"), "subject": _l("Subject"), "category": _l("Category"),
                     "action": _l("Action"), "categories": _l("What was done"),
                     "executed_at": _l("Done at")}
    list_columns = ["executed_at", "subject", "action", "categories"]
    show_columns = ["run", "executed_at", "subject", "category", "action", "categories"]
    search_columns = ["subject", "executed_at"]
    base_order = ("id", "desc")
    choice_columns = {"action": RETENTION_ACTIONS}


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(RetentionRuleView, "Retention rules", label=_l("Retention rules"),
                        icon="fa-hourglass-half", category=CATEGORY,
                        category_label=_l("Compliance"), category_icon="fa-shield")
    appbuilder.add_view(LegalHoldView, "Legal holds", label=_l("Legal holds"), icon="fa-lock",
                        category=CATEGORY)
    appbuilder.add_view(RetentionRunView, "Retention runs", label=_l("Retention runs"),
                        icon="fa-trash", category=CATEGORY)
    appbuilder.add_view_no_menu(RetentionTombstoneView)
    # The audit trail's screen is in app/retention/audit_views.py.
