"""`flask import-statement FILE` and POST /api/v1/statements: the same import, other doors."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from app.extensions import db
from app.payments.incoming.cli import import_statement_command
from app.payments.incoming.models import BankStatement
from tests.api.support import ApiClient, jwt_for
from tests.payments.statements.builders import Entry, Tx, camt053
from tests.payments.statements.conftest import SAMPLES, count, fresh, sample, state


def _file(invoices) -> bytes:
    return camt053([Entry("121.00", ref="1", txs=[Tx(strd=[(invoices[0].structured_reference,
                                                             "SCOR", "BBA")], iban=None)]),
                    Entry("9.00", ref="2", txs=[Tx(ustrd=["?"], iban=None)])])


# --- CLI --------------------------------------------------------------------------------------

def test_cli_imports_and_reports(app, tmp_path, invoices):
    path = tmp_path / "statement.xml"
    path.write_bytes(_file(invoices))
    result = app.test_cli_runner().invoke(import_statement_command, [str(path)])
    assert result.exit_code == 0, result.output
    assert "1 matched automatically" in result.output
    assert "Matched automatically" in result.output and "€121.00" in result.output
    assert fresh(invoices[0]).status == "paid"
    again = app.test_cli_runner().invoke(import_statement_command, [str(path)])
    assert again.exit_code == 1
    assert "already imported" in again.output


def test_cli_refuses_a_notification_file(app):
    if not SAMPLES.is_dir():
        pytest.skip(f"the published sample statements are not there: {SAMPLES} is missing")
    before = state()
    result = app.test_cli_runner().invoke(import_statement_command,
                                          [str(SAMPLES / "test-camt054.xml")])
    assert result.exit_code == 1
    assert "camt.054.001.04" in result.output
    assert state() == before


def test_cli_imports_the_published_coda_sample(app, tmp_path):
    # The published sample does not add up (old balance 11,812.70 + movements 1,715.11 is not
    # the new balance 13,646.05): refused, naming the statement and the difference, unless a
    # person imports it anyway with a reason (issue 15).
    path = tmp_path / "kbc.cod"
    path.write_bytes(sample("oca16_Ontvangen_CODA.txt"))
    before = state()
    refused = app.test_cli_runner().invoke(import_statement_command, [str(path)])
    assert refused.exit_code == 1
    assert "Statement 1 of 1 (135" in refused.output and "118.24" in refused.output
    assert state() == before
    result = app.test_cli_runner().invoke(import_statement_command, [
        str(path), "--import-anyway", "sample file stitched from two accounts"])
    assert result.exit_code == 0, result.output
    assert "7 new lines imported" in result.output


# --- API --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_app(app):
    return app


@pytest.fixture
def api(api_app):
    client = api_app.test_client()
    return ApiClient(client, jwt_for(api_app, client, "AR clerk"))


def test_api_imports_a_multipart_file_then_refuses_it_again(api, invoices):
    response = api.post("/api/v1/statements", data={"file": (io.BytesIO(_file(invoices)),
                                                             "s.xml")},
                        content_type="multipart/form-data")
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["imported"] is True and body["format"] == "camt.053.001.08"
    assert body["matched"] == {"count": 1, "amount": "121.00", "amounts": {"EUR": "121.00"}}
    assert body["unmatched"] == {"count": 1, "amount": "9.00", "amounts": {"EUR": "9.00"}}
    assert fresh(invoices[0]).status == "paid"
    again = api.post("/api/v1/statements", data={"file": (io.BytesIO(_file(invoices)), "s.xml")},
                     content_type="multipart/form-data")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_imported"
    statement_id = body["statement_ids"][0]
    read = api.get(f"/api/v1/statements/{statement_id}").get_json()
    assert read["lines"] == 2 and read["format"] == "camt.053.001.08"
    assert {(row["status"], row["amount"]) for row in read["by_status"]} == {
        ("matched", "121.00"), ("unmatched", "9.00")}
    assert api.get("/api/v1/statements/99999").status_code == 404
    assert api.get("/api/v1/statements/abc").status_code == 404


def test_api_raw_body_and_refusals(api):
    response = api.client.post("/api/v1/statements?file_name=kbc.cod&import_anyway=stitched+sample",
                               data=sample("oca16_Ontvangen_CODA.txt"),
                               headers={**api.headers, "Content-Type": "text/plain"})
    assert response.status_code == 201
    assert db.session.scalar(select(BankStatement.file_name)) == "kbc.cod"
    before = state()
    refused = api.client.post("/api/v1/statements", data=sample("test-camt054.xml"),
                              headers={**api.headers, "Content-Type": "application/xml"})
    body = refused.get_json()
    assert refused.status_code == 422
    assert body["error"] == {"code": "unsupported_format",
                             "format_found": "camt.054.001.04 (debit/credit notification)"}
    assert "camt.054.001.04" in body["message"]
    empty = api.post("/api/v1/statements", data={}, content_type="multipart/form-data")
    assert empty.status_code == 400
    assert state() == before


def test_api_needs_a_login(api_app):
    response = api_app.test_client().post("/api/v1/statements", data=b"x",
                                          headers={"Content-Type": "text/plain"})
    assert response.status_code == 401
    assert count(BankStatement) == 0


def test_the_erp_role_may_push_statements_once_the_lead_adds_it(api_app):
    from app.core.roles import ERP_API_VIEWS

    if "Statements" not in ERP_API_VIEWS:
        pytest.skip("app.core.roles.ERP_API_VIEWS does not name StatementsApi yet")
    client = api_app.test_client()
    erp = ApiClient(client, jwt_for(api_app, client, "ERP integration"))
    response = erp.client.post("/api/v1/statements", data=sample("test-camt053-no-ntry.xml"),
                               headers={**erp.headers, "Content-Type": "application/xml"})
    assert response.status_code == 201
