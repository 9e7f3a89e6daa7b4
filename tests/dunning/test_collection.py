"""The last level: hand-over to a collection agency through the CSV and the HTTP plugins."""
from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.customers.models import Customer
from app.dunning.engine import evaluate
from app.dunning.models import DunningAction
from app.dunning.runs import run
from app.extensions import db
from tests.dunning.conftest import (
    consumer,
    count,
    day,
    enable_plugin,
    overdue,
    remind_state,
    texts,
    today,
)

pytestmark = pytest.mark.usefixtures("defaults")


def _after_formal_notice(total="400.00"):
    customer = consumer(name="Jean Renard")
    invoice = overdue(customer, 90, total=total)
    remind_state(invoice, level=3, reminded_days_ago=20)
    return customer, invoice


def _action():
    return db.session.scalars(select(DunningAction)).one()


def test_hand_over_through_the_csv_plugin_changes_the_legal_status(tmp_path):
    enable_plugin("collection_csv", directory=str(tmp_path), delimiter=";")
    customer, invoice = _after_formal_notice()

    result = run(today())

    assert result.counts["handed_over"] == 1
    action = _action()
    assert action.level.tone == "collection" and action.handover_status == "done"
    assert action.handover_plugin == "collection_csv"
    file = tmp_path / f"CD-{action.id}.csv"
    assert action.handover_reference == file.name
    rows = list(csv.DictReader(file.read_text(encoding="utf-8").splitlines(), delimiter=";"))
    assert [r["invoice_number"] for r in rows] == [invoice.number]
    assert rows[0]["debtor_name"] == "Jean Renard" and rows[0]["claimed_amount"] == "400.00"
    assert rows[0]["city"] == "Bruxelles"
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).legal_status == "collection_agency"
    # From now on, no more reminders: the agency has the file.
    [decision] = evaluate(day(30), customer_ids=[customer.id]).decisions
    assert decision.outcome == "excluded" and "legal status" in texts(decision.reasons)
    run(today())  # the same date again: nothing new, no second file
    assert count(DunningAction) == 1 and len(list(tmp_path.iterdir())) == 1


def test_collection_needs_the_minimum_amount():
    enable_plugin("collection_csv")
    customer, _invoice = _after_formal_notice(total="20.00")
    [decision] = evaluate(today(), customer_ids=[customer.id]).decisions
    assert decision.outcome == "waiting"
    assert "needs at least €50.00" in texts(decision.invoices[0].reasons)


class FakeAgency:
    """A local HTTP server standing in for the agency's API."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 201
        agency = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                agency.requests.append({"headers": dict(self.headers),
                                        "json": json.loads(body)})
                answer = json.dumps({"reference": f"AG-{len(agency.requests)}"}).encode()
                self.send_response(agency.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cases"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_hand_over_through_the_http_plugin(monkeypatch):
    monkeypatch.setenv("CREDITDESK_PLUGIN_COLLECTION_HTTP_API_KEY", "s3cret")
    customer, invoice = _after_formal_notice()
    with FakeAgency() as agency:
        enable_plugin("collection_http", url=agency.url, timeout=5)
        agency.status = 503  # the agency is down on the first day
        run(today())
        action = _action()
        assert action.handover_status == "failed" and "HTTP 503" in action.handover_error
        assert db.session.get(Customer, customer.id).legal_status == "none"

        agency.status = 201
        result = run(day(1))  # the next run retries the hand-over

    assert result.counts["handed_over"] == 1
    db.session.expire_all()
    action = _action()
    assert action.handover_status == "done" and action.handover_reference == "AG-2"
    assert db.session.get(Customer, customer.id).legal_status == "collection_agency"
    sent = agency.requests[-1]
    assert sent["headers"]["Authorization"] == "Bearer s3cret"
    assert sent["headers"]["Idempotency-Key"] == f"CD-{action.id}"
    case = sent["json"]
    assert case["debtor"]["name"] == "Jean Renard"
    assert case["invoices"][0]["number"] == invoice.number
    assert case["creditor"]["enterprise_number"] == "0123.456.749"
    assert [r["tone"] for r in case["reminders"]] == ["collection"]


def test_without_an_enabled_agency_plugin_the_hand_over_waits_and_says_why():
    customer, _invoice = _after_formal_notice()
    run(today())
    action = _action()
    assert action.handover_status == "failed"
    assert "No collection agency plugin is enabled" in action.handover_error
    assert db.session.get(Customer, customer.id).legal_status == "none"
