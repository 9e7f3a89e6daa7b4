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
)
from app.retention.models import (
    ACTOR_TYPES,
    COUNTS_FROM,
    RETENTION_ACTIONS,
    AuditEvent,
    LegalHold,
    RetentionRule,
    RetentionRun,
)

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
                     "legal_basis": _l("Legal basis"), "active": _l("Active")}
    list_columns = ["category", "period_months", "counts_from", "action", "active"]
    search_columns = ["category", "counts_from", "action", "active"]
    show_columns = add_columns = edit_columns = ["category", "period_months", "counts_from",
                                                 "action", "legal_basis", "active"]
    base_order = ("category", "asc")
    choice_columns = {"counts_from": COUNTS_FROM, "action": RETENTION_ACTIONS}


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
    add_columns = ["customer", "reason", "until"]
    edit_columns = ["reason", "until", "released_at"]
    base_order = ("created_at", "desc")
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}

    def pre_add(self, item: LegalHold) -> None:
        item.created_by_id = g.user.id


class RetentionRunView(ReadOnlyModelView):
    datamodel = SQLAInterface(RetentionRun)
    list_title = _l("Retention runs")
    show_title = _l("Retention run")
    label_columns = {"dry_run": _l("Trial run"), "status": _l("Status"),
                     "started_at": _l("Started at"), "finished_at": _l("Finished at"),
                     "triggered_by": _l("Started by"), "counts": _l("Figures")}
    list_columns = ["started_at", "dry_run", "status", "finished_at", "triggered_by"]
    search_columns = ["dry_run", "status", "started_at"]
    show_columns = ["started_at", "dry_run", "status", "finished_at", "triggered_by", "counts"]
    base_order = ("started_at", "desc")
    choice_columns = {"status": RUN_STATUSES}


class AuditEventView(ReadOnlyModelView):
    datamodel = SQLAInterface(AuditEvent)
    list_title = _l("Audit trail")
    show_title = _l("Audit event")
    label_columns = {"at": _l("When"), "actor_type": _l("Who (kind)"), "actor": _l("Who"),
                     "ip": _l("From (IP)"), "action": _l("Did"), "entity": _l("Record type"),
                     "entity_id": _l("Record"), "customer_id": _l("Customer id"),
                     "changed_fields": _l("Changed fields"), "detail": _l("Detail")}
    list_columns = ["at", "actor_type", "actor", "action", "entity", "entity_id", "customer_id"]
    search_columns = ["at", "actor_type", "actor", "action", "entity", "entity_id",
                      "customer_id", "ip"]
    show_columns = ["at", "actor_type", "actor", "ip", "action", "entity", "entity_id",
                    "customer_id", "changed_fields", "detail"]
    base_order = ("at", "desc")
    choice_columns = {"actor_type": ACTOR_TYPES}


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(RetentionRuleView, "Retention rules", label=_l("Retention rules"),
                        icon="fa-hourglass-half", category=CATEGORY,
                        category_label=_l("Compliance"), category_icon="fa-shield")
    appbuilder.add_view(LegalHoldView, "Legal holds", label=_l("Legal holds"), icon="fa-lock",
                        category=CATEGORY)
    appbuilder.add_view(RetentionRunView, "Retention runs", label=_l("Retention runs"),
                        icon="fa-trash", category=CATEGORY)
    appbuilder.add_view(AuditEventView, "Audit trail", label=_l("Audit trail"),
                        icon="fa-history", category=CATEGORY)
