"""POST /api/v1/imports/customers and /invoices: JSON rows or a CSV file, all or nothing."""
from __future__ import annotations

import io

import pytest

from tests.helpers import PASSWORD, make_staff_user
from tests.imports.conftest import customers_csv, db_state, invoices_csv


@pytest.fixture
def api(app, client):
    user = make_staff_user(app, "ERP integration")
    response = client.post("/api/v1/security/login", json={
        "username": user.username, "password": PASSWORD, "provider": "db", "refresh": False})
    assert response.status_code == 200, response.get_json()
    headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    def post(path: str, **kwargs):
        return client.post(f"/api/v1/imports/{path}", headers=headers, **kwargs)

    return post


def test_json_rows_are_imported(api):
    response = api("customers", json={"rows": [
        {"number": "C100", "name": "Bakkerij Peeters", "language": "nl"},
        {"klantnummer": "C200", "naam": "Boulangerie Dupré", "taal": "fr"}]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "message": "2 rows imported: 2 created, 0 updated.", "kind": "customers", "rows": 2,
        "created": 2, "updated": 0, "imported": True, "errors": [], "ignored_columns": []}

    response = api("invoices", json={"rows": [
        {"number": "F-1", "customer_number": "C100", "issue_date": "2025-06-01",
         "due_date": "2025-07-01", "total_amount": "125.50"}]})
    assert response.status_code == 200
    assert response.get_json()["created"] == 1
    assert db_state()["invoices"] == 1


def test_a_csv_file_is_imported_and_reimport_updates(api):
    def send():
        return api("customers", data={"file": (io.BytesIO(customers_csv()), "klanten.csv")},
                   content_type="multipart/form-data")

    first, second = send(), send()
    assert (first.status_code, first.get_json()["created"]) == (200, 2)
    assert (second.status_code, second.get_json()["updated"]) == (200, 2)
    assert db_state()["customers"] == 2


def test_a_csv_body_sent_as_text_csv_is_imported(api):
    response = api("customers", data=customers_csv(encoding="cp1252"),
                   content_type="text/csv")
    assert (response.status_code, response.get_json()["created"]) == (200, 2)


def test_errors_give_422_with_line_field_message_and_change_nothing(api, known_customers):
    before = db_state()
    response = api("invoices", json={"rows": [
        {"number": "F-1", "customer_number": "C100", "issue_date": "2025-06-01",
         "due_date": "2025-07-01", "total_amount": "125.50"},
        {"number": "F-2", "customer_number": "C404", "issue_date": "2025-06-01",
         "due_date": "2025-07-01", "total_amount": "-1"}]})

    assert response.status_code == 422
    body = response.get_json()
    assert body["errors"] == [{"line": 2, "field": "total_amount",
                               "message": "The amount must be greater than zero."}]
    assert (body["imported"], body["message"]) == (False, "1 error; nothing was imported.")
    assert db_state() == before


def test_a_list_or_object_as_a_value_is_refused_by_field(api):
    response = api("customers", json={"rows": [{"number": "C1", "name": {"first": "Jan"}}]})
    assert response.status_code == 422
    assert [(e["line"], e["field"]) for e in response.get_json()["errors"]] == [(1, "name")]
    assert db_state()["customers"] == 0


def test_a_bad_csv_file_gives_422_naming_the_line(api, known_customers):
    data = invoices_csv() + b"F-9;C100;01/06/2025;not a date;10;;\r\n"
    response = api("invoices", data={"file": (io.BytesIO(data), "f.csv")},
                   content_type="multipart/form-data")
    assert response.status_code == 422
    assert [(e["line"], e["field"]) for e in response.get_json()["errors"]] == [(5, "due_date")]


def test_dry_run_validates_without_importing(api):
    response = api("customers?dry_run=1", json={"rows": [{"number": "C1", "name": "Jan"}]})
    assert response.status_code == 200
    assert (response.get_json()["created"], response.get_json()["imported"]) == (1, False)
    assert db_state()["customers"] == 0


@pytest.mark.parametrize("kwargs", [
    {"data": "not json", "content_type": "application/json"},
    {"json": {"rows": "C1;Jan"}},
    {"json": [{"number": "C1"}]},
    {"json": {"rows": [["C1", "Jan"]]}},
    {"data": {"other": (io.BytesIO(b"x"), "f.csv")}, "content_type": "multipart/form-data"},
    {"data": b"number;name\nC1;Jan\n", "content_type": "text/plain"},
    {"data": b"", "content_type": "application/json"},
])
def test_a_malformed_body_gives_400(api, kwargs):
    response = api("customers", **kwargs)
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_an_empty_rows_list_gives_422(api):
    response = api("customers", json={"rows": []})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["message"] == "There are no rows to import."


def test_without_a_token_the_api_refuses(app, client):
    response = client.post("/api/v1/imports/customers", json={"rows": []})
    assert response.status_code == 401
    assert db_state()["customers"] == 0


def test_a_user_whose_role_lacks_the_right_is_refused(app, client):
    user = make_staff_user(app, "Read-only")
    login = client.post("/api/v1/security/login", json={
        "username": user.username, "password": PASSWORD, "provider": "db", "refresh": False})
    response = client.post("/api/v1/imports/customers", json={"rows": [{"number": "C1",
                                                                         "name": "Jan"}]},
                           headers={"Authorization": f"Bearer {login.get_json()['access_token']}"})
    assert response.status_code == 403


def test_the_endpoints_are_in_the_openapi_spec(staff_client):
    response = staff_client("Admin").get("/api/v1/_openapi")
    assert response.status_code == 200
    paths = response.get_json()["paths"]
    for kind in ("customers", "invoices"):
        operation = paths[f"/api/v1/imports/{kind}"]["post"]
        assert set(operation["responses"]) >= {"200", "400", "422"}
        assert "multipart/form-data" in operation["requestBody"]["content"]
    assert "ImportReport" in response.get_json()["components"]["schemas"]


def test_a_file_over_the_limit_gives_413(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 100)
    response = api("customers", data={"file": (io.BytesIO(customers_csv() * 2), "f.csv")},
                   content_type="multipart/form-data")
    assert response.status_code == 413
    assert "too large" in response.get_json()["message"]
    assert db_state()["customers"] == 0
