"""The back office home page and the registration of every domain's admin screens."""
from __future__ import annotations

from flask_appbuilder import AppBuilder, IndexView, expose


class DashboardIndexView(IndexView):
    """Home page: what is owed, what is late, and what is waiting for a person."""

    route_base = ""
    index_template = "admin/dashboard.html"

    @expose("/")
    def index(self):
        from app.core.dashboard import dashboard_figures

        return self.render_template(self.index_template, figures=dashboard_figures())


def register_views(appbuilder: AppBuilder) -> None:
    """Each domain registers its own screens; the order here is the order of the menu."""
    from app.api import register as register_api
    from app.customers.views import register as register_customers
    from app.invoices.views import register as register_invoices

    register_customers(appbuilder)
    register_invoices(appbuilder)
    register_api(appbuilder)
