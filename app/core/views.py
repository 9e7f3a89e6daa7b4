"""The back office home page and the registration of every domain's admin screens."""
from __future__ import annotations

from flask_appbuilder import AppBuilder, IndexView, expose
from flask_appbuilder.security.decorators import has_access


class DashboardIndexView(IndexView):
    """Home page: what is owed, what is late, and what is waiting for a person."""

    route_base = ""
    index_template = "admin/dashboard.html"

    @expose("/")
    @has_access
    def index(self):
        from app.core.dashboard import dashboard_figures

        return self.render_template(self.index_template, figures=dashboard_figures())


# Each module has a `register(appbuilder)`; the order here is the order of the menu.
VIEW_MODULES = (
    "app.customers.views",
    "app.customers.view360",
    "app.core.workqueues",
    "app.invoices.views",
    "app.invoices.pdf_views",
    "app.payments.views",
    "app.payments.money_out_views",
    "app.requests.views",
    "app.dunning.views",
    "app.notifications.views",
    "app.imports.views",
    "app.core.settings_views",
    "app.core.job_runs_views",
    "app.retention.views",
    "app.retention.audit_views",
    "app.retention.compliance_views",
    "app.insights.views",
    "app.api",
)


def register_views(appbuilder: AppBuilder) -> None:
    import importlib

    for module_name in VIEW_MODULES:
        importlib.import_module(module_name).register(appbuilder)
