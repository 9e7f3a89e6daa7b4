"""What every back office screen shares: choice columns, formatting, filters, service-backed forms.

Each domain's views.py declares its screens with ``StaffModelView`` and a few class attributes
(``choice_columns``, ``money_columns``, ``extra_filters``, ``related_view_names``); this module
turns them into what Flask-AppBuilder expects (formatters, select fields, filter lists).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import current_app, flash, request
from flask_appbuilder import ModelView
from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget, BS3TextFieldWidget, Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.urltools import get_filter_args
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional
from wtforms.validators import ValidationError as FormValidationError

from app.core.crypto import iban_hash
from app.core.forms import MoneyField
from app.core.i18n import day, moment, money, phone
from app.core.signals import record_viewed
from app.core.validation import ValidationError
from app.extensions import db

READ_ONLY = ["can_list", "can_show"]
READ_WRITE = ["can_list", "can_show", "can_add", "can_edit", "can_delete"]


# --- Formatting -----------------------------------------------------------------------

def choice_formatter(choices: Mapping[str, Any]):
    """Stored code -> translated label (lazy labels are translated when rendered)."""
    return lambda value: "" if value is None else choices.get(value, value)


def _blank_if_none(value):
    return "" if value is None else value


def money_formatter(value) -> str:
    return money(value)


def yes_no(value) -> str:
    if value is None:
        return ""
    return _("Yes") if value else _("No")


def timestamp(value) -> str:
    return moment(value) if value else ""


def json_formatter(value) -> Markup:
    if value in (None, "", [], {}):
        return Markup("")
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return Markup("<pre>%s</pre>") % text


# --- Form fields ----------------------------------------------------------------------

def _blank_to_none(value):
    return value or None


def choice_field(label, choices: Mapping[str, Any], *, optional: bool = False,
                 description="") -> SelectField:
    """A select showing translated labels and storing the code."""
    options = ([("", "—")] if optional else []) + list(choices.items())
    return SelectField(
        label, choices=options, coerce=_blank_to_none if optional else str,
        description=description,
        validators=[Optional()] if optional else [InputRequired()], widget=Select2Widget(),
    )


def search_choice_field(label, choices: Mapping[str, Any]) -> SelectField:
    return SelectField(label, choices=list(choices.items()), widget=Select2Widget())


class JSONTextField(TextAreaField):
    """Edits a JSON column as text; text that is not JSON is a field error, nothing is saved."""

    widget = BS3TextAreaFieldWidget()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return json.dumps(self.data, indent=2, ensure_ascii=False)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        raw = valuelist[0].strip()
        if not raw:
            self.data = None
            return
        try:
            self.data = json.loads(raw)
        except ValueError as exc:
            self.data = None
            raise ValueError(_("Not valid JSON (line %(line)s): %(error)s",
                               line=getattr(exc, "lineno", "?"), error=getattr(exc, "msg", exc)))


def text_search_field(label, placeholder) -> StringField:
    """A plain text input in the filter bar (e.g. a number of days typed into a date filter)."""
    return StringField(label, widget=BS3TextFieldWidget(), render_kw={"placeholder": placeholder})


# --- Filters (those on invoice due dates are in app/invoices/filters.py) -----------------------

class FilterIbanHash(BaseFilter):
    """Rows with this IBAN, typed any way: IBANs are stored encrypted, so the keyed hash of the
    typed IBAN is compared with the model's ``iban_hash`` column (bank accounts, payments)."""

    name = _l("Is (spaces and case do not matter)")
    arg_name = "iban_is"

    def apply(self, query, value):
        digest = iban_hash(value)
        if digest is None:
            return query
        return query.filter(self.model.iban_hash == digest)


class FilterCustomerText(BaseFilter):
    """On a `customer` relation: the customer whose number is, or whose name contains, the text.

    Used with a text box instead of FAB's drop-down, which would load every customer.
    """

    name = _l("Number or name")
    arg_name = "customer_text"

    def apply(self, query, value):
        from sqlalchemy import or_, select

        text = str(value or "").strip()
        if not text:
            return query
        # The customer table by name, as relationship("Customer") finds its class: core does
        # not import app.customers.
        customer = self.model.metadata.tables["customer"]
        matching = select(customer.c.id).where(or_(customer.c.number == text,
                                                   customer.c.name.ilike(f"%{text}%")))
        return query.filter(self.model.customer_id.in_(matching))


def customer_search_field() -> StringField:
    return text_search_field(_l("Customer"), _l("Customer number or part of the name"))


# --- The base view ----------------------------------------------------------------------

class StaffModelView(ModelView):
    """A FAB ModelView with CreditDesk's conventions; set the class attributes below."""

    base_permissions = READ_WRITE
    page_size = 25
    # column -> {code: lazy label}: translated in lists, a select in forms and filters.
    choice_columns: Mapping[str, Mapping[str, Any]] = {}
    optional_choice_columns: tuple[str, ...] = ()
    money_columns: tuple[str, ...] = ()
    # column -> extra filter classes offered in the filter bar (date columns only: FAB's URL
    # arguments carry a one-digit filter index, and date columns have four built-in filters).
    extra_filters: Mapping[str, list[type[BaseFilter]]] = {}
    # Related lists on the show page, by view class name, so that a domain never imports
    # another domain's views (the classes are found among the registered views).
    related_view_names: tuple[str, ...] = ()
    # Service field name -> form field name, to put a service's error next to its field.
    service_field_map: Mapping[str, str] = {}

    def __init__(self, **kwargs):
        from app.core.money_guard import guard_view

        # Money-moving columns, adds and deletions: only through the services (issue 12 #4).
        guard_view(self)
        cls = type(self)
        labels = cls.label_columns or {}
        self.formatters_columns = {**self._default_formatters(), **(cls.formatters_columns or {})}
        self.add_form_extra_fields = {**self._generated_fields(labels),
                                      **(cls.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**self._generated_fields(labels),
                                       **(cls.edit_form_extra_fields or {})}
        self.search_form_extra_fields = {
            **{col: search_choice_field(labels.get(col, col), choices)
               for col, choices in cls.choice_columns.items()},
            **(cls.search_form_extra_fields or {}),
        }
        super().__init__(**kwargs)
        for column, filter_classes in cls.extra_filters.items():
            for filter_class in filter_classes:
                # The filter bar lists _search_filters; the URL arguments index _all_filters.
                for registry in (self._filters._search_filters, self._filters._all_filters):
                    registry.setdefault(column, []).append(filter_class(column, self.datamodel))

    def _generated_fields(self, labels) -> dict:
        descriptions = type(self).description_columns or {}
        fields = {col: choice_field(labels.get(col, col), choices,
                                    optional=col in self.optional_choice_columns,
                                    description=descriptions.get(col, ""))
                  for col, choices in type(self).choice_columns.items()}
        for col in self.datamodel.get_columns_list():
            if self._is_money(col) and col not in fields:
                # FAB's DecimalField refuses "12,50": staff type amounts as they write them.
                fields[col] = MoneyField(
                    labels.get(col, col), description=descriptions.get(col, ""), minimum=None,
                    validators=[Optional()] if self.datamodel.is_nullable(col)
                    else [InputRequired()])
            # FAB makes a NOT NULL boolean "required", so an unticked box could never be saved.
            if self.datamodel.is_boolean(col):
                fields[col] = BooleanField(labels.get(col, col),
                                           description=descriptions.get(col, ""),
                                           default=self.datamodel.get_col_default(col))
        return fields

    def _default_formatters(self) -> dict:
        formatters = {}
        for col in self.datamodel.get_columns_list():
            if col in self.choice_columns:
                formatters[col] = choice_formatter(self.choice_columns[col])
            elif col in self.money_columns or self._is_money(col):
                formatters[col] = money_formatter
            elif col == "phone" or col.endswith("_phone"):
                formatters[col] = phone  # stored E.164, read in its country's national form
            elif self.datamodel.is_datetime(col):
                formatters[col] = timestamp
            elif self.datamodel.is_date(col):
                formatters[col] = day
            elif self.datamodel.is_boolean(col):
                formatters[col] = yes_no
            elif self.datamodel.is_json(col):
                formatters[col] = json_formatter
            else:
                formatters[col] = _blank_if_none  # FAB would print "None"
        return formatters

    def _is_money(self, col: str) -> bool:
        """Every Numeric(12, 2) column is money (app.core.models.Money): formatted with the
        currency in the reader's locale on every list and show page, without each view saying so."""
        from sqlalchemy import Numeric

        column = self.datamodel.list_columns.get(col)
        column_type = getattr(column, "type", None)
        return isinstance(column_type, Numeric) and getattr(column_type, "scale", None) == 2

    # -- related lists by name --
    def get_uninit_inner_views(self):
        if not self.related_view_names or self.appbuilder is None:
            return self.related_views
        registered = {type(v).__name__: type(v) for v in self.appbuilder.baseviews}
        return [registered[name] for name in self.related_view_names if name in registered]

    def get_init_inner_views(self):
        if self.related_view_names:
            order = list(self.related_view_names)
            self._related_views.sort(key=lambda v: order.index(type(v).__name__)
                                     if type(v).__name__ in order else len(order))
        return self._related_views

    # -- links other pages use (the dashboard) --
    def filter_args(self, column: str, filter_class: type[BaseFilter], value) -> dict[str, Any]:
        """The URL arguments that apply one filter of this list, e.g. {"_flt_4_due_date": 30}."""
        for index, flt in enumerate(self._filters._all_filters[column]):
            if type(flt) is filter_class:
                return {f"_flt_{index}_{column}": value}
        raise LookupError(f"{filter_class.__name__} is not a filter of {column}")

    # -- forms that go through a domain service --
    # A view that defines create_from_form(form) / update_from_form(item, form) has its add /
    # edit saved by those (which call the domain's services); a ValidationError they raise is
    # shown next to the fields it names, the form is shown again and nothing is saved.
    create_from_form = None
    update_from_form = None

    def _add(self):
        if self.create_from_form is None or request.method != "POST":
            return super()._add()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        self._fill_form_exclude_cols(exclude_cols, form)
        if form.validate() and self._save(lambda: self.create_from_form(form), form):
            flash(self.add_row_message, "success")
            return None
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    # -- staff looking at a customer's personal data is logged: app.core.audit listens to
    # core.signals.record_viewed and keeps the rows with personal data
    def _get_show_widget(self, pk, item, **kwargs):
        record_viewed.send(item, page="show")
        return super()._get_show_widget(pk, item, **kwargs)

    def _edit(self, pk):
        if request.method != "POST":
            widgets = super()._edit(pk)  # a missing record is a 404 before anything is logged
            item = self.datamodel.get(pk, self._base_filters)
            if item is not None:
                record_viewed.send(item, page="edit")
            return widgets
        if self.update_from_form is None:
            return super()._edit(pk)
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            from flask import abort

            abort(404)
        form = self.edit_form.refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = self.datamodel.get_pk_value(item)
        if form.validate() and self._save(lambda: self.update_from_form(item, form), form):
            flash(self.edit_row_message, "success")
            return None
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        item = self.datamodel.get(pk, self._base_filters)
        return self._get_related_views_widgets(item, filters={}, orders={}, pages={},
                                               page_sizes={}, widgets=widgets)

    def _save(self, change, form) -> bool:
        try:
            change()
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            self._show_errors(form, exc)
            return False
        return True

    def _show_errors(self, form, exc: ValidationError) -> None:
        for field_name, messages in exc.errors.items():
            field = getattr(form, self.service_field_map.get(field_name, field_name), None)
            if field is not None:
                field.errors = list(field.errors) + list(messages)
            else:
                label = self.label_columns.get(field_name, field_name)
                for message in messages:
                    flash(f"{label}: {message}", "danger")


class ReadOnlyModelView(StaffModelView):
    """Lists and details only: history and outboxes are written by the jobs, not by people."""

    base_permissions = READ_ONLY


def refuse(message: str) -> None:
    """Stop a FAB pre_add/pre_update/pre_delete hook: FAB shows the message, nothing is saved."""
    db.session.rollback()
    raise ValueError(message)


def form_validator(check):
    """Wrap a function raising ValueError(message) as a WTForms field validator."""

    def validate(form, field):
        if field.data in (None, ""):
            return
        try:
            check(field.data)
        except ValueError as exc:
            raise FormValidationError(str(exc)) from exc

    return validate


def may(permission: str, view: str) -> bool:
    """Whether the signed-in staff member holds this permission on that view (to show a button;
    the route itself is guarded by FAB's has_access)."""
    return current_app.appbuilder.sm.has_access(permission, view)


def form_problem(form) -> str:
    """What was wrong with a submitted Flask-WTF form, as one sentence for a flash message."""
    if "csrf_token" in form.errors:
        return _("The form has expired or was not sent from this page. Please try again.")
    return " ".join(str(message) for messages in form.errors.values() for message in messages)


def error_text(error: ValidationError) -> str:
    """A service's refusal (ValidationError) as one sentence for a flash message."""
    return " ".join(str(message) for messages in error.errors.values() for message in messages)


def link(url: str, text: str, css: str = "") -> Markup:
    return Markup('<a href="%s" class="%s">%s</a>') % (url, css, escape(text))
