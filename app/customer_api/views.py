"""Staff screen "ERP webhooks": the company's own webhook endpoints (thin: each action is one
app/customer_api/webhooks.py call, the same the ERP API /api/v1/webhooks makes).

GET  /erp-webhooks/                               endpoints, events, last deliveries
POST /erp-webhooks/add                            a new endpoint (its secret shown once)
POST /erp-webhooks/<id>/<test|enable|disable|remove>

Who may: Admin and Credit manager change; the other staff roles read (app/core/roles.py,
POLICY_VIEWS: ErpWebhookView).
"""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from app.core.validation import ValidationError
from app.customer_api import webhooks
from app.extensions import db

DONE = {"test": _l("A test event is on its way."), "enable": _l("The address is switched on."),
        "disable": _l("The address is switched off."),
        "remove": _l("The webhook address was removed.")}


class ActionForm(FlaskForm):
    """Only the CSRF token: the fields are checked by app.customer_api.webhooks."""


class ErpWebhookView(BaseView):
    route_base = "/erp-webhooks"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        return self._page()

    @expose("/add", methods=["POST"])
    @has_access
    @permission_name("write")
    def add(self):
        if not ActionForm().validate_on_submit():
            return self._page({"form": [_("The form expired; please try again.")]}, status=400)
        try:
            endpoint, secret = webhooks.add_endpoint(webhooks.COMPANY, request.form.get("url"),
                                                     request.form.getlist("events"))
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            return self._page(exc.errors, status=400)
        return self._page(new_secret=(endpoint, secret))

    @expose("/<int:pk>/<any(test, enable, disable, remove):action>", methods=["POST"])
    @has_access
    @permission_name("write")
    def act(self, pk: int, action: str):
        endpoint = webhooks.endpoint_of(webhooks.COMPANY, pk)
        if endpoint is None or endpoint.disabled_reason == "removed":
            abort(404)
        if not ActionForm().validate_on_submit():
            return self._page({"form": [_("The form expired; please try again.")]}, status=400)
        do = {"test": lambda: webhooks.send_test_event(endpoint),
              "enable": lambda: webhooks.set_enabled(endpoint, True),
              "disable": lambda: webhooks.set_enabled(endpoint, False),
              "remove": lambda: webhooks.remove_endpoint(endpoint)}[action]
        try:
            do()
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            return self._page(exc.errors, status=400)
        flash(str(DONE[action]), "success")
        return redirect(url_for(".index"))

    def _page(self, errors: dict | None = None, status: int = 200, new_secret=None):
        endpoints = [e for e in webhooks.endpoints_of(webhooks.COMPANY)
                     if e.disabled_reason != "removed"]
        page = self.render_template(
            "customer_api/company_webhooks.html", endpoints=endpoints,
            events={k: v for k, v in webhooks.COMPANY_EVENTS.items() if k != "test"},
            attempts=webhooks.recent_attempts(webhooks.COMPANY, 30), errors=errors or {},
            new_secret=new_secret, form=ActionForm(), title=_("ERP webhooks"))
        return page, status


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(ErpWebhookView, "ERP webhooks", label=_l("ERP webhooks"),
                        icon="fa-plug", category="Settings")
