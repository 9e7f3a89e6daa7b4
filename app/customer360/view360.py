"""The 360° customer page and the one-box search that leads to it (back office).

GET  /customer360/search?q=...          one box: name, number, e-mail, phone, IBAN, invoice, OGM, RF
GET  /customer360/<id>                  balance, flags, preferences, open invoices, one timeline
POST /customer360/<id>/note|call|pause|resume   staff notes, logged calls, reminder pauses
POST /customer360/<id>/plan|deferral     a plan or deferral on the customer's behalf (requests)

Reading is "can_list"/"can_show" (every staff role but the ERP integration); writing is
"can_write" (Admin, Credit manager, AR clerk: see app/core/roles.py).
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from app.core import validation as v
from app.core.time import business_today
from app.customer360.overview import customer_overview
from app.customer360.search import search_customers
from app.customers import notes as staff_notes
from app.customers.models import (
    CALL_DIRECTIONS,
    CALL_OUTCOMES,
    COUNTRIES,
    CUSTOMER_KINDS,
    DELIVERY_CHANNELS,
    LANGUAGES,
    LEGAL_STATUSES,
    PAYMENT_METHODS,
    Customer,
)
from app.customers.timeline import KINDS, customer_timeline
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.selfservice.preferences import plan_day_for

TIMELINE_PAGE = 50
KIND_LABELS = {
    "invoice": _l("Invoices"), "payment": _l("Payments"), "message": _l("Messages"),
    "request": _l("Requests"), "decision": _l("Decisions"), "comment": _l("Comments"),
    "dispute": _l("Disputes"), "plan": _l("Payment plans"), "deferral": _l("Deferrals"),
    "note": _l("Notes"), "call": _l("Calls"), "pause": _l("Pauses"), "login": _l("Portal log-ins"),
    "pay_link": _l("Pay links"),
    "reply": _l("E-mail replies"),
}


class ActionForm(FlaskForm):
    """Only the CSRF token: the fields are checked by app.customers.notes (translated errors)."""


def may_write() -> bool:
    return current_app.appbuilder.sm.has_access("can_write", "Customer360View")


def risk_label(flag: str) -> str:
    from app.selfservice.risk import FLAG_LABELS

    return str(FLAG_LABELS.get(flag, flag))


class Customer360View(BaseView):
    route_base = "/customer360"
    default_view = "search"

    @expose("/search")
    @has_access
    @permission_name("list")
    def search(self):
        query = (request.args.get("q") or "").strip()
        hits = search_customers(query) if query else []
        exact = [h for h in hits if h.exact]
        if query and len(exact) == 1 and len(hits) == 1:
            return redirect(url_for(".show", pk=exact[0].customer.id))
        return self.render_template("customers/search.html", query=query, hits=hits,
                                    kinds=CUSTOMER_KINDS)

    @expose("/<int:pk>")
    @has_access
    @permission_name("show")
    def show(self, pk: int):
        from app.core.audit import record_view

        customer = self._customer(pk)
        # The page shows personal data (contacts, addresses): staff looking is logged, as on
        # the generic show pages (app/core/admin.py).
        record_view(customer, "customer360")
        return self._page(customer)

    # -- writing -----------------------------------------------------------------------------
    @expose("/<int:pk>/note", methods=["POST"])
    @has_access
    @permission_name("write")
    def note(self, pk: int):
        return self._act(pk, staff_notes.add_note, _("The note is saved."))

    @expose("/<int:pk>/call", methods=["POST"])
    @has_access
    @permission_name("write")
    def call(self, pk: int):
        return self._act(pk, staff_notes.log_call, _("The call is logged."))

    @expose("/<int:pk>/pause", methods=["POST"])
    @has_access
    @permission_name("write")
    def pause(self, pk: int):
        return self._act(pk, staff_notes.pause_dunning, _("Reminders are paused."))

    @expose("/<int:pk>/resume", methods=["POST"])
    @has_access
    @permission_name("write")
    def resume(self, pk: int):
        return self._act(pk, lambda c, u, _data: staff_notes.end_pause(c, u),
                         _("Reminders are resumed."))

    @expose("/<int:pk>/plan", methods=["POST"])
    @has_access
    @permission_name("write")
    def plan(self, pk: int):
        return self._act(pk, _start_plan, _("The payment plan request is recorded."))

    @expose("/<int:pk>/deferral", methods=["POST"])
    @has_access
    @permission_name("write")
    def deferral(self, pk: int):
        return self._act(pk, _start_deferral, _("The deferral request is recorded."))

    @expose("/<int:pk>/api-keys/<int(max=2147483647):key_id>/revoke", methods=["POST"])
    @has_access
    @permission_name("write")
    def revoke_api_key(self, pk: int, key_id: int):
        from app.customer_api.keys import key_of, revoke_key

        key = key_of(pk, key_id)
        if key is None:
            abort(404)
        return self._act(pk, lambda _c, user, _data: revoke_key(key, f"staff {user.username}"),
                         _("The API key is revoked."))

    @expose("/<int:pk>/pay-links/<int(max=2147483647):link_id>/revoke", methods=["POST"])
    @has_access
    @permission_name("write")
    def revoke_pay_link(self, pk: int, link_id: int):
        """The pay link stops working at once (a message forwarded to the wrong person...)."""
        from app.paylinks.services import revoke

        def act(customer, user, _data):
            if not revoke(link_id, customer.id, user):
                raise v.ValidationError({"pay_link": [_("This pay link is not this customer's "
                                                        "or was revoked already.")]})

        return self._act(pk, act, _("The pay link is revoked."))

    # -- helpers -----------------------------------------------------------------------------
    def _customer(self, pk: int) -> Customer:
        customer = db.session.get(Customer, pk)
        if customer is None:
            abort(404)
        return customer

    def _act(self, pk: int, action, done: str):
        customer = self._customer(pk)
        form = ActionForm()
        if not form.validate_on_submit():
            return self._page(customer, {"form": [_("The form expired; please try again.")]},
                              400)
        try:
            action(customer, current_user, request.form)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._page(customer, exc.errors, 400)
        flash(done, "success")
        return redirect(url_for(".show", pk=customer.id))

    def _page(self, customer: Customer, errors: dict | None = None, status: int = 200):
        kinds = {k for k in request.args.getlist("kind") if k in KINDS}
        offset = max(request.args.get("offset", 0, type=int), 0)
        timeline = customer_timeline(customer.id, TIMELINE_PAGE, offset, kinds or None)
        page = self.render_template(
            "customers/customer360.html", customer=customer,
            overview=customer_overview(customer), timeline=timeline, kinds=kinds,
            kind_labels=KIND_LABELS, errors=errors or {}, form=ActionForm(),
            may_write=may_write(), today=business_today(), risk_label=risk_label,
            labels={"kind": CUSTOMER_KINDS, "language": LANGUAGES, "country": COUNTRIES,
                    "channel": DELIVERY_CHANNELS, "method": PAYMENT_METHODS,
                    "legal": LEGAL_STATUSES},
            call_directions=CALL_DIRECTIONS, call_outcomes=CALL_OUTCOMES,
            welcome=_welcome(customer), posted=request.form if errors else {},
            plan_day=plan_day_for(customer), connected=_connected_apps(customer),
            pay_links=_pay_links(customer))
        return page, status


def _connected_apps(customer: Customer):
    """The customer's API keys, webhook addresses and last deliveries (app/customer_api)."""
    from app.core.models import utcnow
    from app.customer_api import keys, webhooks
    from app.customer_api.models import SCOPES

    return {"keys": keys.keys_of(customer.id), "endpoints": webhooks.endpoints_of(customer.id),
            "attempts": webhooks.recent_attempts(customer.id, 10), "scopes": SCOPES,
            "now": utcnow()}


def _pay_links(customer: Customer) -> list[tuple]:
    """(link, state) of the customer's pay links, newest first (app/paylinks)."""
    from app.paylinks.services import customer_links, link_state

    return [(link, link_state(link)) for link in customer_links(customer.id, 20)]


def _welcome(customer: Customer):
    from app.customers.welcome import checklist

    return checklist(customer)


# --- plans and deferrals on the customer's behalf (the requests domain's rules) --------------

def _chosen_invoices(customer: Customer, data) -> list[Invoice]:
    ids = []
    for raw in data.getlist("invoice_ids") if hasattr(data, "getlist") else data.get(
            "invoice_ids", []):
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            continue
    invoices = list(db.session.scalars(select(Invoice).where(
        Invoice.id.in_(ids), Invoice.customer_id == customer.id,
        invoice_is_open()))) if ids else []
    if not invoices:
        raise v.ValidationError({"invoice_ids": [_("Choose at least one open invoice.")]})
    return invoices


def _override(data) -> str | None:
    return (data.get("override_reason") or "").strip()[:1000] or None


def _within_the_rules(outcome) -> None:
    """Staff acting for the customer either stay within the self-service rules or say why they
    override them: a plan or deferral the rules refuse is not left as a request for someone
    else to decide. ValidationError (the caller rolls back: nothing is recorded)."""
    if outcome.approved:
        return
    raise v.ValidationError({
        "rules": [str(rule) for rule in outcome.refused_rules],
        "override_reason": [_("The rules above refuse this. To go ahead anyway, say why you "
                              "override them.")]})


def _start_plan(customer: Customer, user, data) -> None:
    invoices = _chosen_invoices(customer, data)
    try:
        from app.requests.plans import request_plan
    except ImportError:
        raise v.ValidationError({"form": [_("Payment plans cannot be started here yet.")]})
    # The requests domain checks the numbers and its rules (unless overridden, with a reason);
    # no day given: the customer's preferred payment day.
    day = (data.get("day_of_month") or "").strip() or plan_day_for(customer)
    _within_the_rules(request_plan(customer, invoices, data.get("installment_count"), day,
                                   channel="staff", user=user,
                                   override_reason=_override(data)))


def _start_deferral(customer: Customer, user, data) -> None:
    errors = v.Errors()
    new_due = v.a_date(data, "new_due_date", errors, required=True)
    errors.raise_if_any()
    invoices = _chosen_invoices(customer, data)
    try:
        from app.requests.deferrals import request_deferral
    except ImportError:
        raise v.ValidationError({"form": [_("Deferrals cannot be started here yet.")]})
    _within_the_rules(request_deferral(customer, invoices, new_due, channel="staff", user=user,
                                       override_reason=_override(data)))


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(Customer360View, "Find a customer", label=_l("Find a customer"),
                        icon="fa-search", category="Receivables")
