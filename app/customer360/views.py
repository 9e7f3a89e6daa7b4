"""Back office screens for customers and what hangs off them."""
from __future__ import annotations

from flask import g
from flask_appbuilder import AppBuilder
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from stdnum import iban as iban_rules
from stdnum.exceptions import ValidationError as StdnumError
from wtforms import StringField
from wtforms.validators import Length, Optional

from app.core.admin import FilterIbanHash, StaffModelView, error_text, form_validator, refuse
from app.core.validation import ValidationError
from app.customers.models import (
    ADDRESS_KINDS,
    BANK_ACCOUNT_PURPOSES,
    BANK_ACCOUNT_STATUSES,
    CONTACT_ROLES,
    COUNTRIES,
    CUSTOMER_KINDS,
    DELIVERY_CHANNELS,
    LANGUAGES,
    LEGAL_STATUSES,
    MANDATE_SCHEMES,
    MANDATE_SEQUENCES,
    MANDATE_STATUSES,
    PAYMENT_METHODS,
    Address,
    BankAccount,
    Contact,
    Contract,
    Customer,
    Mandate,
)
from app.customers.notes import end_pause, pause_dunning
from app.customers.services import clean_customer, upsert_customer
from app.extensions import db
from app.retention.subject import check_customer_deletable
from app.selfservice.bank_accounts import record_account

CATEGORY = "Receivables"

CUSTOMER_LABELS = {
    "number": _l("Customer number"), "name": _l("Name"), "kind": _l("Kind"),
    "vat_number": _l("VAT number"), "national_number": _l("National register number"),
    "language": _l("Language"), "country": _l("Country"),
    "email": _l("E-mail"), "phone": _l("Phone"), "delivery_channel": _l("Delivery channel"),
    "sms_reminders": _l("SMS reminders"), "payment_method": _l("Payment method"),
    "preferred_payment_day": _l("Preferred payment day"), "legal_status": _l("Legal status"),
    "risk_flags": _l("Risk flags"), "verified_at": _l("Verified at"), "balance": _l("Balance"),
    "dunning_policy": _l("Dunning policy"), "dunning_paused_until": _l("Reminders paused until"),
    "dunning_pause_reason": _l("Why reminders are paused"),
    "relationship_ended_on": _l("Relationship ended on"), "anonymised_at": _l("Anonymised at"),
    "created_at": _l("Created at"), "updated_at": _l("Updated at"),
    "customer": _l("Customer"),
}

# The fields of the customer form, in the order clean_customer knows them.
CUSTOMER_FORM = ["number", "name", "kind", "vat_number", "national_number", "language",
                 "country", "email", "phone", "delivery_channel", "sms_reminders",
                 "payment_method", "preferred_payment_day", "legal_status"]
CUSTOMER_SCREEN_EXTRAS = ["dunning_policy", "dunning_paused_until", "dunning_pause_reason",
                          "relationship_ended_on"]


def _customer_choices() -> dict:
    return {"kind": CUSTOMER_KINDS, "language": LANGUAGES, "country": COUNTRIES,
            "delivery_channel": DELIVERY_CHANNELS, "payment_method": PAYMENT_METHODS,
            "legal_status": LEGAL_STATUSES}


def _link_360(number):
    from flask import url_for
    from markupsafe import Markup

    if not number:
        return ""
    return Markup('%s <a class="label label-info cd-360" href="%s">360°</a>') % (
        number, url_for("Customer360View.search", q=number))


class CustomerView(StaffModelView):
    datamodel = SQLAInterface(Customer)
    list_title = _l("Customers")
    show_title = _l("Customer")
    add_title = _l("Add a customer")
    edit_title = _l("Edit customer")
    label_columns = CUSTOMER_LABELS
    list_columns = ["number", "name", "kind", "language", "legal_status", "balance"]
    search_columns = ["number", "name", "kind", "language", "legal_status", "country", "balance",
                      "email", "vat_number"]
    show_fieldsets = [
        (_l("Customer"), {"fields": ["number", "name", "kind", "vat_number", "national_number",
                                     "language", "country", "balance", "legal_status"]}),
        (_l("Contact and preferences"), {"fields": ["email", "phone", "delivery_channel",
                                                    "sms_reminders", "payment_method",
                                                    "preferred_payment_day"]}),
        (_l("Reminders"), {"fields": ["dunning_policy", "dunning_paused_until",
                                      "dunning_pause_reason"], "expanded": True}),
        (_l("History"), {"fields": ["verified_at", "relationship_ended_on", "anonymised_at",
                                    "created_at", "updated_at"], "expanded": False}),
    ]
    add_columns = CUSTOMER_FORM + CUSTOMER_SCREEN_EXTRAS
    edit_columns = CUSTOMER_FORM[1:] + CUSTOMER_SCREEN_EXTRAS  # the ERP number is the key
    base_order = ("name", "asc")
    choice_columns = _customer_choices()
    money_columns = ("balance",)
    # The customer number links to the 360° page (app/customer360/view360.py).
    formatters_columns = {"number": lambda number: _link_360(number)}
    related_view_names = ("InvoiceView", "ContactView", "AddressView", "BankAccountView",
                          "MandateView", "ContractView", "CustomerRequestView", "MessageView",
                          "PaymentView", "DunningActionView")
    description_columns = {
        "number": _l("The customer number in the ERP."),
        "preferred_payment_day": _l("Day of the month (1-31) the customer prefers to pay on."),
        "national_number": _l("Belgian national register number (11 digits); stored "
                              "encrypted."),
    }

    # Customers are validated by the same rules as imports and the API (clean_customer).
    def create_from_form(self, form) -> Customer:
        customer, _created = upsert_customer(clean_customer(self._form_data(form)))
        self._apply_screen_extras(customer, form)
        return customer

    def update_from_form(self, customer: Customer, form) -> Customer:
        data = self._form_data(form)
        data["number"] = customer.number
        upsert_customer(clean_customer(data))
        self._apply_screen_extras(customer, form)
        return customer

    @staticmethod
    def _form_data(form) -> dict:
        return {name: getattr(form, name).data for name in CUSTOMER_FORM if hasattr(form, name)}

    # A reminder pause's rules are app.customers.notes' (the 360° page's "Pause reminders"): a
    # reason, an end after today and within the longest pause, a timeline line saying who.
    service_field_map = {"reason": "dunning_pause_reason", "paused_until": "dunning_paused_until"}

    @staticmethod
    def _apply_screen_extras(customer: Customer, form) -> None:
        customer.dunning_policy = form.dunning_policy.data
        customer.relationship_ended_on = form.relationship_ended_on.data
        until = form.dunning_paused_until.data
        reason = (form.dunning_pause_reason.data or "").strip() or None
        if until is None and reason is None:
            end_pause(customer, g.user)
        elif (until, reason) != (customer.dunning_paused_until, customer.dunning_pause_reason):
            if customer.id is None:
                db.session.flush()  # a new customer: the timeline line needs its id
            pause_dunning(customer, g.user, {"paused_until": until, "reason": reason})

    def pre_delete(self, item: Customer) -> None:
        try:
            check_customer_deletable(item)  # the retention rules anonymise instead
        except ValidationError as exc:
            refuse(error_text(exc))


class ContactView(StaffModelView):
    datamodel = SQLAInterface(Contact)
    list_title = _l("Contacts")
    show_title = _l("Contact")
    add_title = _l("Add a contact")
    edit_title = _l("Edit contact")
    label_columns = {"customer": _l("Customer"), "name": _l("Name"), "role": _l("Role"),
                     "email": _l("E-mail"), "phone": _l("Phone"), "language": _l("Language"),
                     "portal_access": _l("May use the portal"), "created_at": _l("Created at"),
                     "updated_at": _l("Updated at")}
    list_columns = ["customer", "name", "role", "email", "phone", "portal_access"]
    search_columns = ["name", "role", "email", "phone"]
    show_columns = ["customer", "name", "role", "email", "phone", "language", "portal_access",
                    "created_at", "updated_at"]
    add_columns = edit_columns = ["customer", "name", "role", "email", "phone", "language",
                                  "portal_access"]
    base_order = ("name", "asc")
    choice_columns = {"role": CONTACT_ROLES, "language": LANGUAGES}
    optional_choice_columns = ("language",)


class AddressView(StaffModelView):
    datamodel = SQLAInterface(Address)
    list_title = _l("Addresses")
    show_title = _l("Address")
    add_title = _l("Add an address")
    edit_title = _l("Edit address")
    label_columns = {"customer": _l("Customer"), "kind": _l("Kind"), "line1": _l("Street"),
                     "line2": _l("Address line 2"), "postal_code": _l("Postal code"),
                     "city": _l("City"), "country": _l("Country"), "created_at": _l("Created at"),
                     "updated_at": _l("Updated at")}
    list_columns = ["customer", "kind", "line1", "postal_code", "city", "country"]
    search_columns = ["kind", "line1", "postal_code", "city", "country"]
    show_columns = ["customer", "kind", "line1", "line2", "postal_code", "city", "country",
                    "created_at", "updated_at"]
    add_columns = edit_columns = ["customer", "kind", "line1", "line2", "postal_code", "city",
                                  "country"]
    base_order = ("city", "asc")
    choice_columns = {"kind": ADDRESS_KINDS, "country": COUNTRIES}


def _check_iban(value: str) -> None:
    try:
        iban_rules.validate(value)
    except StdnumError as exc:
        raise ValueError(_("Not a valid IBAN: %(value)s.", value=value)) from exc


class BankAccountView(StaffModelView):
    datamodel = SQLAInterface(BankAccount)
    list_title = _l("Bank accounts")
    show_title = _l("Bank account")
    add_title = _l("Add a bank account")
    edit_title = _l("Edit bank account")
    label_columns = {"customer": _l("Customer"), "iban": _l("IBAN"), "bic": _l("BIC"),
                     "holder": _l("Account holder"), "purpose": _l("Purpose"),
                     "status": _l("Status"), "active_from": _l("Active from"),
                     "retired_at": _l("No longer used since"), "created_at": _l("Created at"),
                     "updated_at": _l("Updated at")}
    list_columns = ["customer", "iban", "holder", "purpose", "status", "active_from"]
    search_columns = ["iban", "holder", "purpose", "status"]
    show_columns = ["customer", "iban", "bic", "holder", "purpose", "status", "active_from",
                    "retired_at", "created_at", "updated_at"]
    # Where refunds are paid and direct debits collected (app.core.money_guard): an account is
    # recorded through the cool-off rules (record_account), its IBAN, purpose and status are
    # never changed by hand, and it is not deleted (it is evidence; a pending refund account is
    # stopped by rejecting its request, a direct-debit one by refusing or revoking the mandate).
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    add_columns = ["customer", "iban", "bic", "holder", "purpose"]
    edit_columns = ["bic", "holder"]
    base_order = ("created_at", "desc")
    choice_columns = {"purpose": BANK_ACCOUNT_PURPOSES, "status": BANK_ACCOUNT_STATUSES}
    validators_columns = {"iban": [form_validator(_check_iban)]}
    description_columns = {
        "active_from": _l("For a new refund account: the end of its cool-off. No refund is "
                          "paid to a pending account; reject its request to stop it."),
        "purpose": _l("A new refund account is used only after its cool-off; a direct-debit "
                      "account once its mandate is confirmed."),
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # FAB's text filters would compare ciphertext: the IBAN is searched by its hash only.
        for registry in (self._filters._search_filters, self._filters._all_filters):
            registry["iban"] = [FilterIbanHash("iban", self.datamodel)]

    def create_from_form(self, form) -> BankAccount:
        if form.customer.data is None:
            raise ValidationError({"customer": [_("Choose a customer.")]})
        return record_account(form.customer.data, form.iban.data, form.bic.data,
                              form.holder.data, form.purpose.data, channel="staff")


class MandateView(StaffModelView):
    datamodel = SQLAInterface(Mandate)
    list_title = _l("SEPA mandates")
    show_title = _l("SEPA mandate")
    add_title = _l("Add a SEPA mandate")
    edit_title = _l("Edit SEPA mandate")
    label_columns = {"customer": _l("Customer"), "bank_account": _l("Bank account"),
                     "reference": _l("Mandate reference"), "creditor_id": _l("Creditor identifier"),
                     "scheme": _l("Scheme"), "sequence": _l("Sequence"), "status": _l("Status"),
                     "signed_on": _l("Signed on"), "signed_place": _l("Signed at (place)"),
                     "signature_name": _l("Signed by"), "signature_ip": _l("Signed from (IP)"),
                     "signed_at": _l("Signature time"), "mandate_text": _l("Mandate text"),
                     "last_collection_on": _l("Last collection"), "revoked_at": _l("Revoked at"),
                     "created_at": _l("Created at"), "updated_at": _l("Updated at")}
    list_columns = ["reference", "customer", "scheme", "status", "signed_on",
                    "last_collection_on"]
    search_columns = ["reference", "scheme", "status", "signed_on"]
    show_columns = ["reference", "customer", "bank_account", "creditor_id", "scheme", "sequence",
                    "status", "signed_on", "signed_place", "signature_name", "signature_ip",
                    "signed_at", "mandate_text", "last_collection_on", "revoked_at",
                    "created_at", "updated_at"]
    # A mandate decides which account is debited (app.core.money_guard): recorded pending
    # (record_mandate), confirmed or refused by the actions below, its status, account and
    # signature evidence never changed by hand, and never deleted (evidence the bank may ask for).
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    add_columns = ["customer", "bank_account", "reference", "creditor_id", "scheme", "sequence",
                   "signed_on", "signed_place", "signature_name"]
    edit_columns = ["creditor_id", "scheme", "sequence", "signed_place"]
    base_order = ("created_at", "desc")
    choice_columns = {"scheme": MANDATE_SCHEMES, "sequence": MANDATE_SEQUENCES,
                      "status": MANDATE_STATUSES}

    # Empty: record_mandate gives the mandate its own unique reference.
    add_form_extra_fields = {"reference": StringField(
        _l("Mandate reference"), validators=[Optional(), Length(max=35)],
        description=_l("Leave empty: CreditDesk gives the mandate its own reference."),
        widget=BS3TextFieldWidget())}

    def create_from_form(self, form) -> Mandate:
        from app.selfservice.mandates import record_mandate

        if form.customer.data is None:
            raise ValidationError({"customer": [_("Choose a customer.")]})
        return record_mandate(form.customer.data, form.bank_account.data,
                              reference=form.reference.data, creditor_id=form.creditor_id.data,
                              scheme=form.scheme.data, sequence=form.sequence.data,
                              signed_on=form.signed_on.data, signed_place=form.signed_place.data,
                              signature_name=form.signature_name.data)

    # Staff confirm a mandate signed in the portal (or refuse it): app/selfservice/mandates.py.
    @action("confirm_mandates", _l("Confirm"), _l("Confirm the selected pending mandates?"),
            "fa-check", multiple=True)
    def confirm_mandates(self, items):
        return self._decide(items, approve=True)

    @action("reject_mandates", _l("Refuse"), _l("Refuse the selected pending mandates?"),
            "fa-times", multiple=True)
    def reject_mandates(self, items):
        return self._decide(items, approve=False)

    def _decide(self, items, approve: bool):
        from flask import flash, g, redirect, request

        from app.core.validation import ValidationError
        from app.selfservice.mandates import staff_decide

        done = skipped = 0
        for item in items if isinstance(items, list) else [items]:
            try:
                staff_decide(item, g.user, approve)
                db.session.commit()
                done += 1
            except ValidationError:
                db.session.rollback()
                skipped += 1
        if done:
            flash(ngettext("%(num)s mandate decided.", "%(num)s mandates decided.", done),
                  "success")
        if skipped:
            flash(ngettext("%(num)s mandate was not pending and was left as it is.",
                           "%(num)s mandates were not pending and were left as they are.",
                           skipped), "warning")
        return redirect(request.referrer or self.get_redirect())


class ContractView(StaffModelView):
    datamodel = SQLAInterface(Contract)
    list_title = _l("Contracts")
    show_title = _l("Contract")
    add_title = _l("Add a contract")
    edit_title = _l("Edit contract")
    label_columns = {"customer": _l("Customer"), "reference": _l("Contract reference"),
                     "description": _l("Description"), "start_date": _l("Start date"),
                     "renewal_date": _l("Renewal date"),
                     "renewal_notice_sent_at": _l("Renewal notice sent at"),
                     "created_at": _l("Created at"), "updated_at": _l("Updated at")}
    list_columns = ["reference", "customer", "description", "start_date", "renewal_date"]
    search_columns = ["reference", "description", "start_date", "renewal_date"]
    show_columns = ["reference", "customer", "description", "start_date", "renewal_date",
                    "renewal_notice_sent_at", "created_at", "updated_at"]
    add_columns = ["customer", "reference", "description", "start_date", "renewal_date"]
    edit_columns = ["description", "start_date", "renewal_date"]
    base_order = ("renewal_date", "asc")


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(CustomerView, "Customers", label=_l("Customers"), icon="fa-users",
                        category=CATEGORY, category_label=_l("Receivables"),
                        category_icon="fa-eur")
    # Contacts and addresses are reached from the customer's page; these have lists of their own.
    appbuilder.add_view(BankAccountView, "Bank accounts", label=_l("Bank accounts"),
                        icon="fa-credit-card", category=CATEGORY)
    appbuilder.add_view(MandateView, "SEPA mandates", label=_l("SEPA mandates"),
                        icon="fa-pencil-square-o", category=CATEGORY)
    appbuilder.add_view(ContractView, "Contracts", label=_l("Contracts"),
                        icon="fa-file-text-o", category=CATEGORY)
    appbuilder.add_view_no_menu(ContactView)
    appbuilder.add_view_no_menu(AddressView)
