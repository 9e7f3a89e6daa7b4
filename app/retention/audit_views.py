"""The audit trail screen: read-only for everyone (the Admin too), searchable, exportable as CSV.

Only the Compliance officer and the Admin see it (app/core/roles.py COMPLIANCE_VIEWS names
``AuditEvent*``). The add/edit/delete routes FAB would give a ModelView do not exist here at
all: no role, however broad its permissions, can change or remove an audit event on screen.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

from flask import Response, abort, request, stream_with_context
from flask_appbuilder import AppBuilder, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.core.admin import READ_ONLY, FilterCustomerText, StaffModelView, customer_search_field
from app.core.audit_models import ACTOR_TYPES, AUDIT_ACTIONS, AuditEvent
from app.core.spreadsheets import csv_writer
from app.extensions import db

CATEGORY = "Compliance"
CSV_COLUMNS = ("at", "actor_type", "actor", "ip", "action", "entity", "entity_id",
               "customer_id", "changed_fields", "detail")


def _cell(value) -> str:
    """A CSV cell's text (the writer neutralises formulas)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def customer_label(customer_id) -> str:
    """"C-0024 Dupont SA" instead of the bare id; a customer since erased keeps its id."""
    if customer_id is None:
        return ""
    from app.customers.models import Customer

    customer = db.session.get(Customer, customer_id)  # the session's identity map: once a page
    if customer is None:
        return _("customer #%(id)s (erased)", id=customer_id)
    return f"{customer.number} {customer.name}"


class AuditEventView(StaffModelView):
    datamodel = SQLAInterface(AuditEvent)
    base_permissions = [*READ_ONLY, "can_export"]
    list_template = "retention/audit_list.html"
    list_title = _l("Audit trail")
    show_title = _l("Audit event")
    label_columns = {"at": _l("When"), "actor_type": _l("Who (kind)"), "actor": _l("Who"),
                     "ip": _l("From (IP)"), "action": _l("Did"), "entity": _l("Record type"),
                     "entity_id": _l("Record"), "customer_id": _l("Customer"),
                     "changed_fields": _l("Changed fields"), "detail": _l("Detail")}
    list_columns = ["at", "actor_type", "actor", "ip", "action", "entity", "entity_id",
                    "customer_id"]
    search_columns = ["at", "actor_type", "actor", "action", "entity", "entity_id",
                      "customer_id", "ip"]
    show_columns = ["at", "actor_type", "actor", "ip", "action", "entity", "entity_id",
                    "customer_id", "changed_fields", "detail"]
    base_order = ("at", "desc")
    choice_columns = {"actor_type": ACTOR_TYPES, "action": AUDIT_ACTIONS}
    extra_filters = {"customer_id": [FilterCustomerText]}
    search_form_extra_fields = {"customer_id": customer_search_field()}
    page_size = 50
    formatters_columns = {"customer_id": customer_label}

    # No add, edit or delete routes: these plain (not exposed) methods replace FAB's. They
    # keep a permission name because FAB's templates ask for it (the role never has it).
    def add(self):
        abort(404)

    def edit(self, pk):
        abort(404)

    def delete(self, pk):
        abort(404)

    add._permission_name = "add"
    edit._permission_name = "edit"
    delete._permission_name = "delete"

    @expose("/export.csv")
    @has_access
    def export(self):
        """The events the list's current filters select, newest first, as CSV."""
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        query = self.datamodel.apply_all(db.session.query(AuditEvent), self._filters,
                                         order_column="at", order_direction="desc")
        # The export is an event too; the filter values may be names: only their keys are kept.
        audit.record("export", "audit_event",
                     detail=" ".join(sorted(k for k in request.args if k.startswith("_flt_"))))
        db.session.commit()
        return Response(stream_with_context(self._rows(query)), mimetype="text/csv",
                        headers={"Content-Disposition":
                                 'attachment; filename="audit-trail.csv"'})

    @staticmethod
    def _rows(query) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for event in query.yield_per(1000):
            writer.writerow([_cell(getattr(event, column)) for column in CSV_COLUMNS])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(AuditEventView, "Audit trail", label=_l("Audit trail"),
                        icon="fa-history", category=CATEGORY,
                        category_label=_l("Compliance"), category_icon="fa-shield")
