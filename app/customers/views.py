"""Back office screens for customers."""
from __future__ import annotations

from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.customers.models import Customer


class CustomerView(ModelView):
    datamodel = SQLAInterface(Customer)
    list_columns = ["number", "name", "kind", "language", "legal_status", "balance"]
    search_columns = ["number", "name", "language", "legal_status", "balance"]


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(CustomerView, "Customers", label=_l("Customers"),
                        category="Receivables", category_label=_l("Receivables"))
