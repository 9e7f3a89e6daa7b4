"""Back office screens for invoices."""
from __future__ import annotations

from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.invoices.models import Invoice


class InvoiceView(ModelView):
    datamodel = SQLAInterface(Invoice)
    list_columns = ["number", "customer", "issue_date", "due_date", "total_amount", "open_amount",
                    "status"]
    search_columns = ["number", "status", "due_date", "total_amount", "structured_reference"]


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(InvoiceView, "Invoices", label=_l("Invoices"),
                        category="Receivables", category_label=_l("Receivables"))
