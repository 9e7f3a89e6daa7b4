"""Crafted URLs get a 400 or 404, never a 500 (issue 12, "Low": huge ids and page numbers,
FAB's _oc_/psize_/page_ parameters, extreme report dates, the portal's language switch).

The walks read app.url_map and the AppBuilder's views, so a route or a screen added later is
covered without touching this file. Run on PostgreSQL too (TEST_DATABASE_URL): that is where
an id over 2**31 overflows the INTEGER column.
"""
from __future__ import annotations

import re

import pytest

from app.core.request_guards import MAX_PAGE_SIZE, GuardedArgs
from tests.helpers import make_customer, make_invoice

HUGE = [2**63, 10**30, 2**31]


def _int_args(rule) -> list[str]:
    return [name for name, converter in rule._converters.items()
            if type(converter).__name__ == "IntegerConverter"]


def _fill(rule, values: dict[str, object]) -> str:
    url = rule.rule
    for name, value in values.items():
        url = re.sub(r"<(?:[^:<>]+:)?%s>" % name, str(value), url)  # noqa: UP031
    return url


def _status(client, method: str, url: str, **kwargs) -> int | str:
    try:
        return client.open(url, method=method, **kwargs).status_code
    except Exception as exc:  # noqa: BLE001  (TESTING propagates what would be a 500)
        return f"{type(exc).__name__}: {str(exc)[:120]}"


def _routes(app, *, portal: bool):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/portal/") != portal or rule.rule.startswith("/static"):
            continue
        yield rule


@pytest.fixture
def admin(staff_client):
    customer = make_customer()
    make_invoice(customer)
    return staff_client("Admin")


def _huge_integer_arguments(app, client, *, portal: bool, get_answers: tuple[int, ...]):
    """(failures, checked): every route whose arguments are all integers, called with HUGE
    values by GET and POST; a GET must answer one of ``get_answers``, nothing may be >= 500."""
    failures, checked = [], 0
    for rule in _routes(app, portal=portal):
        names = _int_args(rule)
        if not names or set(rule.arguments) - set(names):
            continue
        for value in HUGE:
            url = _fill(rule, dict.fromkeys(names, value))
            for method in sorted(rule.methods & {"GET", "POST"}):
                status = _status(client, method, url)
                checked += 1
                if not isinstance(status, int) or status >= 500 or \
                        (method == "GET" and status not in get_answers):
                    failures.append((method, url, status))
    return failures, checked


def test_every_integer_url_argument_out_of_range_is_not_found(app, admin):
    failures, checked = _huge_integer_arguments(app, admin, portal=False,
                                                get_answers=(403, 404))
    assert checked > 20 and not failures, failures


def test_every_model_key_in_the_url_out_of_range_or_not_a_number_is_not_found(app, admin):
    failures, checked = [], 0
    for rule in _routes(app, portal=False):
        if rule.arguments != {"pk"} or rule.rule.startswith("/api/"):
            continue
        for value in ("99999999999999999999", "2147483648", "-99999999999", "abc", "1.5",
                      "9" * 5000):
            url = _fill(rule, {"pk": value})
            for method in sorted(rule.methods & {"GET", "POST"}):
                status = _status(admin, method, url)
                checked += 1
                if not isinstance(status, int) or status >= 500:
                    failures.append((method, url, status))
    assert checked > 100 and not failures, failures


GARBAGE = [("psize_{v}", "abc"), ("psize_{v}", "-1"), ("psize_{v}", "0"),
           ("psize_{v}", str(MAX_PAGE_SIZE + 1)), ("psize_{v}", "99999999999999999999"),
           ("page_{v}", "99999999999999999999"), ("page_{v}", "-5"), ("page_{v}", "abc"),
           ("page_{v}", "1e3"), ("_oc_{v}", "nope"), ("_oc_{v}", "customer"),
           ("_oc_{v}", "id; DROP TABLE invoice")]


def _list_views(app):
    for view in app.appbuilder.baseviews:
        if hasattr(view, "order_columns") and hasattr(view, "datamodel") \
                and f"{view.endpoint}.list" in app.view_functions:
            yield view


def test_every_list_screen_refuses_garbage_list_parameters(app, admin):
    failures, checked = [], 0
    for view in _list_views(app):
        url = app.url_map._rules_by_endpoint[f"{view.endpoint}.list"][0].rule
        name = type(view).__name__
        if admin.get(url).status_code != 200:
            continue  # a screen the Admin does not open
        for template, value in GARBAGE:
            query = {template.format(v=name): value, f"_od_{name}": "asc"}
            status = _status(admin, "GET", url, query_string=query)
            checked += 1
            if status != 400:
                failures.append((url, query, status))
    assert checked > 100 and not failures, failures


def test_valid_list_parameters_still_work(app, admin):
    for view in _list_views(app):
        url = app.url_map._rules_by_endpoint[f"{view.endpoint}.list"][0].rule
        name = type(view).__name__
        if admin.get(url).status_code != 200:
            continue
        query = {f"psize_{name}": str(MAX_PAGE_SIZE), f"page_{name}": "0"}
        if view.order_columns:
            query |= {f"_oc_{name}": view.order_columns[0], f"_od_{name}": "desc"}
        response = admin.get(url, query_string=query)
        assert response.status_code == 200, (url, query)


def test_a_refusal_says_what_is_wrong(admin):
    response = admin.get("/invoiceview/list/?psize_InvoiceView=100000")
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "page size must be a whole number from 1 to 100" in body
    assert "Traceback" not in body


def test_filters_refuse_what_does_not_fit_the_column(app, admin):
    """Every search column of every list, every filter index FAB could be asked for."""
    failures, checked = [], 0
    for view in _list_views(app):
        url = app.url_map._rules_by_endpoint[f"{view.endpoint}.list"][0].rule
        if admin.get(url).status_code != 200:
            continue
        for column in view.search_columns:
            for value in ("99999999999999999999", "abc", "-1", "1,5", "y", "0001-01-01",
                          "\x00"):
                for index in (0, 1, 9):
                    status = _status(admin, "GET", url,
                                     query_string={f"_flt_{index}_{column}": value})
                    checked += 1
                    if not isinstance(status, int) or status >= 500:
                        failures.append((url, column, index, value, status))
    assert checked > 1000 and not failures, failures


def test_amount_filters_work_on_every_database(admin):
    """FAB compared a Numeric column with text: PostgreSQL refused every amount filter."""
    customer = make_customer()
    make_invoice(customer, total="12.30")
    make_invoice(customer, total="99.00")
    for value in ("12.30", "12,30"):
        response = admin.get("/invoiceview/list/", query_string={"_flt_0_total_amount": value})
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert "12.30" in body and "99.00" not in body
    assert admin.get("/invoiceview/list/?_flt_0_total_amount=lots").status_code == 400
    assert admin.get("/invoiceview/list/?_flt_9_total_amount=1").status_code == 400
    assert admin.get("/invoiceview/list/?_flt_0_disputed=maybe").status_code == 400


def test_bulk_action_with_keys_out_of_range_is_refused(app, admin):
    for view in _list_views(app):
        if not getattr(view, "actions", None) or f"{view.endpoint}.action_post" \
                not in app.view_functions:
            continue
        url = app.url_map._rules_by_endpoint[f"{view.endpoint}.action_post"][0].rule
        action = next(iter(view.actions))
        for rowid in ("99999999999999999999", "abc"):
            status = _status(admin, "POST", url, data={"action": action, "rowid": [rowid]})
            assert isinstance(status, int) and status in (400, 403), (url, rowid, status)


def test_huge_numbers_in_screens_own_query_parameters(admin):
    customer = make_customer()
    for url in ("/insights/aging?offset=99999999999999999999",
                f"/customer360/{customer.id}?offset=99999999999999999999",
                "/requests/queue/?page=99999999999999999999",
                "/matching/?statement=99999999999999999999&page=99999999999999999999"):
        status = _status(admin, "GET", url)
        assert isinstance(status, int) and status < 500, (url, status)


def test_guarded_int_arguments_fall_back_to_the_default():
    args = GuardedArgs([("offset", "99999999999999999999"), ("page", "3"), ("neg", "-5")])
    assert args.get("offset", 0, type=int) == 0
    assert args.get("page", 1, type=int) == 3 and args.get("neg", type=int) == -5
    assert args.get("offset") == "99999999999999999999"


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "31/12/9999", "1/1/0001",
                                   "99999-01-01", "31-12-9999"])
def test_extreme_dates_in_a_report_are_refused(admin, value):
    response = admin.get("/cash/", query_string={"day": value})
    assert response.status_code == 400
    assert "Dates must lie between the years 1900 and 2999" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "31-12-9999", "1.1.1899"])
def test_every_date_field_refuses_years_out_of_range(app, value):
    """The one parser behind forms, imports and the API (app.core.validation.a_date)."""
    from app.core import validation as v

    errors = v.Errors()
    with app.test_request_context():
        assert v.a_date({"day": value}, "day", errors) is None
        assert "between the years 1900 and 2999" in errors.errors["day"][0]
        assert v.a_date({"day": "2999-12-31"}, "day", v.Errors()).year == 2999


def test_an_api_invoice_dated_year_9999_is_a_field_error(app, client):
    from tests.api.support import ApiClient, jwt_for

    erp = ApiClient(client, jwt_for(app, client, "ERP integration"))
    customer = make_customer()
    response = erp.post("/api/v1/invoices", json={
        "number": "Y9999", "customer_number": customer.number, "issue_date": "2024-01-01",
        "due_date": "9999-12-31", "total_amount": "10.00"})
    assert response.status_code == 422
    assert "due_date" in response.get_json()["errors"]


def test_a_malformed_date_is_explained_not_a_500(admin):
    response = admin.get("/cash/", query_string={"day": "2024-13-45"}, follow_redirects=True)
    assert response.status_code == 200


# --- the portal ---------------------------------------------------------------------------------

@pytest.fixture
def customer_client(app):
    from tests.portal.conftest import install_magic_link_templates, sign_in

    install_magic_link_templates()
    customer = make_customer(email="guard@example.test", language="en")
    make_invoice(customer)
    client = app.test_client()
    sign_in(client, customer.email)
    return client


def test_portal_integer_arguments_out_of_range_are_not_found(app, customer_client):
    failures, checked = _huge_integer_arguments(app, customer_client, portal=True,
                                                get_answers=(404,))
    assert checked and not failures, failures


@pytest.mark.parametrize("query", ["from=0001-01-01", "to=9999-12-31", "from=31/12/9999",
                                   "page=99999999999999999999"])
def test_portal_extreme_dates_and_pages(customer_client, query):
    for path in ("/portal/statement", "/portal/statement.csv", "/portal/statement.pdf",
                 "/portal/invoices"):
        status = _status(customer_client, "GET", f"{path}?{query}")
        assert isinstance(status, int) and status < 500, (path, query, status)


@pytest.mark.parametrize("target", ["/portal/%0A", "/portal/%0D%0ASet-Cookie:%20x=1",
                                    "//attacker.example/portal/",
                                    "https://attacker.example/portal/", "/portal/%E2%80%AE",
                                    "/portal//attacker.example", "http://[x/portal/",
                                    "/portal/" + "a" * 3000, "/portal/\\\\attacker.example"])
def test_language_switch_goes_back_only_to_a_portal_page(client, target):
    response = client.get(f"/portal/language/en?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"


def test_a_nul_character_in_the_address_is_refused_with_the_portal_page(client):
    response = client.get("/portal/language/en?next=/portal/%00")
    assert response.status_code == 400
    assert "characters that are not allowed" in response.get_data(as_text=True)
    assert "Back to my account" in response.get_data(as_text=True)  # the portal's own page


def test_language_switch_keeps_a_real_portal_page(client):
    response = client.get("/portal/language/fr?next=/portal/invoices%3Fpage%3D2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/invoices?page=2"
