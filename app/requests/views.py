"""Back office screens for customer requests and what they create (plans, deferrals, disputes)."""
from __future__ import annotations

from datetime import timedelta

from flask_appbuilder import AppBuilder
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.admin import (
    READ_ONLY,
    FilterCustomerText,
    StaffModelView,
    customer_search_field,
    text_search_field,
)
from app.core.models import utcnow
from app.core.validation import ValidationError
from app.invoices.references import format_ogm
from app.requests.disputes import set_dispute_status
from app.requests.models import (
    DEFERRAL_STATUSES,
    DISPUTE_REASONS,
    DISPUTE_STATUSES,
    INSTALLMENT_STATUSES,
    PLAN_STATUSES,
    REQUEST_CHANNELS,
    REQUEST_KINDS,
    REQUEST_STATUSES,
    CustomerRequest,
    Deferral,
    Dispute,
    Installment,
    PaymentPlan,
)
from app.requests.plans import set_plan_status
from app.requests.queue_views import RequestQueueView, SatisfactionReportView
from app.requests.services import open_request, update_handling

CATEGORY = "Requests"
OPEN_REQUEST_STATUSES = ("received", "in_review")
DECIDED_STATUSES = ("approved", "rejected")
# Plans, deferrals and disputes are created by the request rules (portal, API, request
# screen); here staff follow them up and change their status.
FOLLOW_UP = ["can_list", "can_show", "can_edit"]


def _ogm(value):
    return format_ogm(value) if value and len(value) == 12 else value


class FilterAnswerDueWithinHours(BaseFilter):
    """Open requests whose answer is due within N hours (0: already late)."""

    name = _l("Open, answer due within (hours)")
    arg_name = "sla_within"

    def apply(self, query, value):
        try:
            hours = int(str(value).strip())
        except (TypeError, ValueError):
            return query
        limit = utcnow() + timedelta(hours=max(hours, 0))
        return query.filter(self.model.status.in_(OPEN_REQUEST_STATUSES),
                            self.model.sla_due_at.is_not(None), self.model.sla_due_at <= limit)


class CustomerRequestView(StaffModelView):
    datamodel = SQLAInterface(CustomerRequest)
    list_title = _l("Customer requests")
    show_title = _l("Customer request")
    add_title = _l("Record a customer request")
    edit_title = _l("Handle a customer request")
    label_columns = {
        "customer": _l("Customer"), "kind": _l("Kind"), "status": _l("Status"),
        "channel": _l("Received through"), "subject": _l("Subject"), "message": _l("Message"),
        "payload": _l("Details"), "referral_reason": _l("Why it needs a person"),
        "shown_subject": _l("Subject"), "shown_reasons": _l("Why it needs a person"),
        "shown_details": _l("Details"),
        "sla_due_at": _l("Answer due by"), "assignee": _l("Assigned to"),
        "decision_note": _l("Decision note"), "decided_at": _l("Decided at"),
        "decided_by": _l("Decided by"), "satisfaction_score": _l("Satisfaction (0-10)"),
        "satisfaction_comment": _l("Satisfaction comment"), "invoices": _l("Invoices"),
        "satisfaction_at": _l("Rated at"),
        "created_at": _l("Received at"), "updated_at": _l("Updated at"),
    }
    list_columns = ["created_at", "customer", "kind", "status", "shown_subject", "sla_due_at",
                    "assignee"]
    search_columns = ["customer", "kind", "status", "channel", "subject", "sla_due_at",
                      "created_at"]
    show_fieldsets = [
        (_l("Request"), {"fields": ["customer", "kind", "status", "channel", "shown_subject",
                                    "message", "shown_details", "invoices", "shown_reasons",
                                    "created_at"]}),
        (_l("Handling"), {"fields": ["sla_due_at", "assignee", "decision_note", "decided_at",
                                     "decided_by"]}),
        (_l("Satisfaction"), {"fields": ["satisfaction_score", "satisfaction_comment",
                                         "satisfaction_at"],
                              "expanded": False}),
    ]
    # Never deleted by people: a request is answered, closed or cancelled; the retention rules
    # remove it when its time has come (for GDPR access and erasure requests, the only way).
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    add_columns = ["customer", "kind", "channel", "subject", "message", "assignee"]
    # Decisions go through the request page (RequestQueueView): it runs the kind's rules.
    edit_columns = ["assignee", "sla_due_at"]
    show_template = "requests/request_show.html"
    base_order = ("created_at", "desc")
    choice_columns = {"kind": REQUEST_KINDS, "status": REQUEST_STATUSES,
                      "channel": REQUEST_CHANNELS}
    extra_filters = {"customer": [FilterCustomerText],
                     "sla_due_at": [FilterAnswerDueWithinHours]}
    search_form_extra_fields = {
        "customer": customer_search_field(),
        "sla_due_at": text_search_field(_l("Answer due by"),
                                        _l("YYYY-MM-DD HH:MM, or a number of hours")),
    }

    def create_from_form(self, form) -> CustomerRequest:
        """A request taken on the customer's behalf: the same service as the portal (SLA from
        the settings, acknowledgement sent)."""
        if form.customer.data is None:
            raise ValidationError({"customer": [_("Choose a customer.")]})
        return open_request(form.customer.data, form.kind.data,
                            channel=form.channel.data or "staff",
                            subject=(form.subject.data or "").strip() or None,
                            message=(form.message.data or "").strip() or None,
                            assignee=form.assignee.data)

    def update_from_form(self, req: CustomerRequest, form) -> CustomerRequest:
        """Who handles it and when the answer is due, through the request rules (an answered
        request keeps them)."""
        update_handling(req, form.assignee.data, form.sla_due_at.data)
        return req


class PaymentPlanView(StaffModelView):
    datamodel = SQLAInterface(PaymentPlan)
    base_permissions = FOLLOW_UP
    list_title = _l("Payment plans")
    show_title = _l("Payment plan")
    edit_title = _l("Edit payment plan")
    label_columns = {
        "customer": _l("Customer"), "status": _l("Status"),
        "total_amount": _l("Total"), "installment_count": _l("Instalments"),
        "day_of_month": _l("Day of the month"), "start_date": _l("First instalment"),
        "broken_on": _l("Broken on"), "invoices": _l("Invoices"), "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }
    list_columns = ["customer", "status", "total_amount", "installment_count", "start_date"]
    search_columns = ["customer", "status", "total_amount", "start_date", "broken_on"]
    show_columns = ["customer", "status", "total_amount", "installment_count", "day_of_month",
                    "start_date", "broken_on", "invoices", "created_at", "updated_at"]
    edit_columns = ["status"]
    base_order = ("start_date", "desc")
    choice_columns = {"status": PLAN_STATUSES}
    money_columns = ("total_amount",)
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}
    related_view_names = ("InstallmentView",)

    def update_from_form(self, plan: PaymentPlan, form) -> PaymentPlan:
        """Through the plan rules: marked broken, the plan gets the day it broke."""
        set_plan_status(plan, form.status.data)
        return plan


class InstallmentView(StaffModelView):
    datamodel = SQLAInterface(Installment)
    base_permissions = READ_ONLY
    list_title = _l("Instalments")
    show_title = _l("Instalment")
    label_columns = {
        "plan": _l("Payment plan"), "sequence": _l("Instalment"), "due_date": _l("Due date"),
        "amount": _l("Amount"), "paid_amount": _l("Paid"),
        "structured_reference": _l("Structured communication"), "status": _l("Status"),
    }
    list_columns = ["sequence", "due_date", "amount", "paid_amount", "status",
                    "structured_reference"]
    search_columns = ["due_date", "status", "amount", "structured_reference"]
    show_columns = ["plan", "sequence", "due_date", "amount", "paid_amount",
                    "structured_reference", "status"]
    base_order = ("due_date", "asc")
    choice_columns = {"status": INSTALLMENT_STATUSES}
    money_columns = ("amount", "paid_amount")

    formatters_columns = {"structured_reference": _ogm}


class DeferralView(StaffModelView):
    datamodel = SQLAInterface(Deferral)
    base_permissions = FOLLOW_UP
    list_title = _l("Deferrals")
    show_title = _l("Deferral")
    edit_title = _l("Edit deferral")
    label_columns = {
        "customer": _l("Customer"), "invoice": _l("Invoice"), "request": _l("Request"),
        "original_due_date": _l("Original due date"), "new_due_date": _l("New due date"),
        "status": _l("Status"), "created_at": _l("Created at"), "updated_at": _l("Updated at"),
    }
    list_columns = ["customer", "invoice", "original_due_date", "new_due_date", "status"]
    search_columns = ["customer", "status", "original_due_date", "new_due_date"]
    show_columns = ["customer", "invoice", "original_due_date", "new_due_date", "status",
                    "created_at", "updated_at"]
    edit_columns = ["status"]
    base_order = ("new_due_date", "asc")
    choice_columns = {"status": DEFERRAL_STATUSES}
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}


class DisputeView(StaffModelView):
    datamodel = SQLAInterface(Dispute)
    base_permissions = FOLLOW_UP
    list_title = _l("Disputes")
    show_title = _l("Dispute")
    edit_title = _l("Edit dispute")
    label_columns = {
        "customer": _l("Customer"), "invoice": _l("Invoice"), "request": _l("Request"),
        "amount": _l("Disputed amount"), "reason": _l("Reason"), "text": _l("Customer's words"),
        "status": _l("Status"), "closed_at": _l("Closed at"), "created_at": _l("Opened at"),
        "updated_at": _l("Updated at"),
    }
    list_columns = ["created_at", "customer", "invoice", "amount", "reason", "status"]
    search_columns = ["customer", "status", "reason", "amount", "created_at"]
    show_columns = ["customer", "invoice", "amount", "reason", "text", "status", "closed_at",
                    "created_at", "updated_at"]
    edit_columns = ["status"]
    base_order = ("created_at", "desc")
    choice_columns = {"status": DISPUTE_STATUSES, "reason": DISPUTE_REASONS}
    money_columns = ("amount",)
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}

    def update_from_form(self, dispute: Dispute, form) -> Dispute:
        """Closing or reopening goes through the dispute rules: the time it closed, and the
        invoice's disputed amount (what reminders leave out) follow."""
        set_dispute_status(dispute, form.status.data)
        return dispute


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(RequestQueueView, "Request queue", label=_l("Request queue"),
                        icon="fa-inbox", category=CATEGORY, category_label=_l("Requests"),
                        category_icon="fa-comments")
    appbuilder.add_view(CustomerRequestView, "Customer requests", label=_l("All requests"),
                        icon="fa-list", category=CATEGORY)
    appbuilder.add_view(SatisfactionReportView, "Satisfaction", label=_l("Satisfaction"),
                        icon="fa-smile-o", category=CATEGORY)
    appbuilder.add_view(PaymentPlanView, "Payment plans", label=_l("Payment plans"),
                        icon="fa-calendar", category=CATEGORY)
    appbuilder.add_view(DeferralView, "Deferrals", label=_l("Deferrals"),
                        icon="fa-clock-o", category=CATEGORY)
    appbuilder.add_view(DisputeView, "Disputes", label=_l("Disputes"),
                        icon="fa-exclamation-triangle", category=CATEGORY)
    appbuilder.add_view_no_menu(InstallmentView)
