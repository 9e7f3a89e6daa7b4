"""Parameters checked before any view runs: a crafted URL gets a 400 or 404, never a 500.

A number in a URL or a query string reaches the database as a bound parameter: an id of
99999999999999999999 overflows PostgreSQL's INTEGER (and SQLite's 64 bits), a page of 10**30
overflows OFFSET, and Flask-AppBuilder's list parameters go straight into its queries
(``int(page_<View>)``, ``ORDER BY _oc_<View>``). Each view would have to remember every
check; instead they are made here, once, for every route:

- integer URL arguments (``<int:…>``) and Flask-AppBuilder's ``<pk>`` of a model with an
  integer key must lie in the database's INTEGER range: otherwise no such record, 404;
- ``request.args.get(name, type=int)`` anywhere gives the default for a number out of that
  range, as it does for text that is not a number (GuardedRequest below);
- on Flask-AppBuilder screens: ``page_<View>`` a whole number from 0 to MAX_PAGE,
  ``psize_<View>`` from 1 to MAX_PAGE_SIZE, ``_oc_<View>`` one of the view's sortable columns,
  ``_flt_<n>_<column>`` on a number or a relation a whole number in range, ``rowid`` of a bulk
  action a key in range: otherwise 400 with a translated page;
- a date in the query string (2024-05-31 or 31/05/2024) must have a year from MIN_YEAR to
  MAX_YEAR: the reports add and subtract days, and date(9999, 12, 31) + 1 day overflows.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import Flask, Request, abort, current_app, jsonify, make_response, request
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.datastructures import ImmutableMultiDict

from app.core.validation import MAX_YEAR, MIN_YEAR

DB_INT_MIN, DB_INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL INTEGER, every table's key
MAX_PAGE = 100_000
MAX_PAGE_SIZE = 100  # the largest size FAB's own page-size menu offers
MAX_NUMBER_DIGITS = 30  # longer digit strings are not parsed at all (int() of huge text is slow)

_INTEGER = re.compile(rf"-?\d{{1,{MAX_NUMBER_DIGITS}}}")
_NUMBER = re.compile(r"-?\d{1,12}(?:[.,]\d{1,6})?")
_ISO_DATE = re.compile(r"\s*(\d{1,6})-\d{1,2}-\d{1,2}\s*")
_EU_DATE = re.compile(r"\s*\d{1,2}[-/.]\d{1,2}[-/.](\d{1,6})\s*")


class GuardedArgs(ImmutableMultiDict):
    """``get(name, type=int)`` treats a number out of the database's range like a non-number:
    the caller's default (every screen already copes with text that is not a number)."""

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:
        value = super().get(key, default, type)
        if type is int and isinstance(value, int) and value is not default \
                and not DB_INT_MIN <= value <= DB_INT_MAX:
            return default
        return value


class GuardedRequest(Request):
    parameter_storage_class = GuardedArgs


def init_app(app: Flask) -> None:
    app.request_class = GuardedRequest
    app.before_request(check_request)
    _cast_numeric_filter_values()


def _cast_numeric_filter_values() -> None:
    """FAB 5 compares a Numeric column with the filter's text (it casts only integers, floats,
    dates): PostgreSQL refuses ``numeric = character varying``, so every amount filter of every
    list was a 500 there. The text is made a Decimal first (the guard below lets only numbers
    through to such a filter)."""
    from flask_appbuilder.models.sqla import filters

    original = filters.set_value_to_type
    if getattr(original, "creditdesk_numeric", False):
        return

    def set_value_to_type(datamodel: Any, column_name: str, value: Any) -> Any:
        if isinstance(value, str) and datamodel.is_numeric(column_name) \
                and not datamodel.is_float(column_name):
            try:
                return Decimal(value.strip().replace(",", "."))
            except ArithmeticError:
                return None
        return original(datamodel, column_name, value)

    set_value_to_type.creditdesk_numeric = True  # type: ignore[attr-defined]
    filters.set_value_to_type = set_value_to_type


def in_range(value: Any) -> bool:
    """True for a whole number (int or digits) that fits the database's INTEGER."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value.strip()):
            return False
        value = int(value)
    return isinstance(value, int) and DB_INT_MIN <= value <= DB_INT_MAX


def check_request():
    """before_request: None to go on, or the refusal."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not in_range(value):
            return refuse(404)
    problem = _text_problem() or _date_problem()
    if problem:
        return refuse(400, problem)
    view = _views().get(request.blueprint or "")
    if view is None or request.path.startswith("/api/"):
        return None
    pk = (request.view_args or {}).get("pk")
    if isinstance(pk, str) and _integer_key(getattr(view, "datamodel", None)) and not in_range(pk):
        return refuse(404)
    problem = _list_problem(view)
    return refuse(400, problem) if problem else None


def _text_problem() -> str | None:
    """PostgreSQL stores no NUL character: a query string carrying one is refused here rather
    than by the database in the middle of a page."""
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        return _("The address contains characters that are not allowed.")
    return None


def _date_problem() -> str | None:
    for value in (v for values in request.args.listvalues() for v in values):
        match = _ISO_DATE.fullmatch(value) or _EU_DATE.fullmatch(value)
        if match and not MIN_YEAR <= int(match.group(1)) <= MAX_YEAR:
            return _("Dates must lie between the years %(low)s and %(high)s.", low=MIN_YEAR,
                     high=MAX_YEAR)
    return None


# --- Flask-AppBuilder screens -----------------------------------------------------------------

def _views() -> dict[str, Any]:
    """{blueprint name: view} of the FAB views, rebuilt when views were added."""
    appbuilder = current_app.appbuilder
    cache = current_app.extensions.setdefault("request_guards", {})
    if cache.get("count") != len(appbuilder.baseviews):
        by_blueprint, by_class = {}, {}
        for view in appbuilder.baseviews:
            if getattr(view, "blueprint", None) is not None:
                by_blueprint[view.blueprint.name] = view
            by_class[type(view).__name__] = view
        cache.update(count=len(appbuilder.baseviews), by_blueprint=by_blueprint,
                     by_class=by_class)
    return cache["by_blueprint"]


def _view_named(name: str) -> Any:
    return current_app.extensions["request_guards"]["by_class"].get(name)


def _integer_key(datamodel: Any) -> bool:
    try:
        pk = datamodel.get_pk_name()
        return isinstance(pk, str) and datamodel.is_integer(pk)
    except Exception:  # noqa: BLE001  (not a SQLA model view: nothing to check)
        return False


def _list_problem(view: Any) -> str | None:
    """What is wrong with FAB's list parameters, parsed the way FAB parses them
    (flask_appbuilder.urltools: re.findall on every argument name)."""
    for name, value in request.args.items(multi=True):
        if re.findall("page_(.*)", name) and not (
                in_range(value) and 0 <= int(value) <= MAX_PAGE):
            return _("The page number must be a whole number from 0 to %(high)s.",
                     high=MAX_PAGE)
        if re.findall("psize_(.*)", name) and not (
                in_range(value) and 1 <= int(value) <= MAX_PAGE_SIZE):
            return _("The page size must be a whole number from 1 to %(high)s.",
                     high=MAX_PAGE_SIZE)
        order = re.findall("_oc_(.*)", name)
        if order:
            target = _view_named(order[0])
            allowed = getattr(target, "order_columns", None)
            if target is not None and allowed is not None and value not in allowed:
                return _("This list cannot be sorted by that column.")
        problem = _filter_problem(view, name, value)
        if problem:
            return problem
    if request.method == "POST" and _integer_key(getattr(view, "datamodel", None)) \
            and any(not in_range(pk) for pk in request.form.getlist("rowid")):
        return _("The selected records are not valid.")
    return None


def _filter_problem(view: Any, name: str, value: str) -> str | None:
    """``_flt_<n>_<column>``: FAB takes the n-th filter of the column (IndexError past the
    last) and compares the text with the column (PostgreSQL refuses 'abc' for a number or a
    boolean, and a key over INTEGER). Our own filter classes parse their text themselves."""
    found = re.findall(r"_flt_(\d)_(.*)", name)
    filters = getattr(getattr(view, "_filters", None), "_all_filters", None) or {}
    if not found or found[0][1] not in filters:
        return None  # FAB ignores a filter on a column it does not know
    index, column = int(found[0][0]), found[0][1]
    if index >= len(filters[column]):
        return _("This filter does not exist.")
    if type(filters[column][index]).__module__ != "flask_appbuilder.models.sqla.filters":
        return None
    datamodel = view.datamodel
    try:
        if datamodel.is_relation(column):
            ok = not _integer_key(datamodel.get_related_interface(column)) or in_range(value)
        elif datamodel.is_boolean(column):
            ok = value == "y"  # FAB's check box sends "y"; unticked sends nothing
        elif datamodel.is_integer(column):
            ok = in_range(value)
        elif datamodel.is_numeric(column) or datamodel.is_float(column):
            ok = _NUMBER.fullmatch(value.strip()) is not None
        else:
            ok = True
    except Exception:  # noqa: BLE001  (a dotted or computed column: FAB's own business)
        ok = True
    return None if ok else _("This filter needs a value of the column's kind (a number, a "
                             "date or a yes/no).")


# --- the answer -------------------------------------------------------------------------------

def refuse(status: int, message: str | None = None):
    """JSON under /api/, the portal's own page under /portal/ (404), a plain translated page
    in the back office."""
    if status == 404:
        message = message or _("This page does not exist.")
    if request.path.startswith("/api/"):
        return make_response(jsonify({"message": message}), status)
    if request.blueprint == "portal":
        if status == 404:
            abort(404)  # the portal's error handler renders its own page
        from app.core.web_security import portal_refused

        return portal_refused(message, status)
    title = _("Not found") if status == 404 else _("Bad request")
    back = _("Back to the start page")
    body = (f'<!doctype html><html lang="{escape(_language())}"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
            f'<p>{escape(message)}</p><p><a href="/">{escape(back)}</a></p></body></html>')
    response = make_response(body, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


def _language() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return locale.language if locale else "en"
