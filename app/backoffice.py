"""The back office home page and the registration of every domain's admin screens.

Composition, not a layer: it names every domain's view module (VIEW_MODULES), so it sits at
the top of app/ beside create_app, never in app/core.
"""
from __future__ import annotations

import functools

from flask import current_app, g, redirect, send_from_directory, url_for
from flask_appbuilder import AppBuilder, IndexView, expose
from flask_appbuilder.security.decorators import has_access


def _login_first(view):
    """A signed-out visitor goes to the login page without FAB's red "Access is Denied"."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated:
            return redirect(url_for(f"{current_app.appbuilder.sm.auth_view.endpoint}.login"))
        return view(*args, **kwargs)

    return wrapper


class DashboardIndexView(IndexView):
    """Home page: what is owed, what is late, and what is waiting for a person."""

    route_base = ""
    index_template = "admin/dashboard.html"

    @expose("/")
    @_login_first
    @has_access
    def index(self):
        from app.insights.dashboard import dashboard_figures

        return self.render_template(self.index_template, figures=dashboard_figures())

    @expose("/favicon.ico")
    def favicon(self):
        """Browsers ask for it on every page: a small icon rather than a logged 404."""
        return send_from_directory(current_app.static_folder, "favicon.ico",
                                   mimetype="image/vnd.microsoft.icon", max_age=86400)


# Each module has a `register(appbuilder)`; the order here is the order of the menu.
VIEW_MODULES = (
    "app.customer360.views",
    "app.customer360.view360",
    "app.insights.workqueues",
    "app.inbound.views",
    "app.invoices.views",
    "app.payments.outgoing.credit_note_views",
    "app.invoices.pdf_views",
    "app.einvoicing.views",
    "app.payments.views",
    "app.payments.incoming.views",
    "app.payments.outgoing.views",
    "app.requests.views",
    "app.dunning.views",
    "app.notifications.views",
    "app.imports.views",
    "app.core.settings_views",
    "app.customer_api.views",
    "app.core.job_runs_views",
    "app.retention.views",
    "app.retention.audit_views",
    "app.retention.compliance_views",
    "app.insights.views",
    "app.api",
)


# Packages above app.customers that add events to the 360° timeline (register_source on import).
TIMELINE_SOURCES = ("app.payments.timeline", "app.notifications.timeline", "app.requests.timeline",
                    "app.paylinks.timeline", "app.inbound.timeline", "app.einvoicing.timeline",
                    "app.dunning.timeline")


# Packages above app.notifications that make links for one message (register_link_maker on
# import, app/notifications/message_links.py): the pay link of a message that asks for money.
MESSAGE_LINK_MAKERS = ("app.paylinks.messages",)

# Packages above app.notifications that answer its questions about a message (on import): the
# sample values of reminder templates (register_reminder_samples, app/notifications/events.py)
# and whether a queued reminder is moot (register_withdrawal_check, app/notifications/
# withdrawal.py). The web process, the CLI and the workers all build the app through here.
NOTIFICATION_PROVIDERS = ("app.dunning.messages", "app.dunning.services")


def register_views(appbuilder: AppBuilder) -> None:
    import importlib

    for module_name in VIEW_MODULES:
        importlib.import_module(module_name).register(appbuilder)
    for module_name in TIMELINE_SOURCES + MESSAGE_LINK_MAKERS + NOTIFICATION_PROVIDERS:
        importlib.import_module(module_name)
