"""Ranked suggestions for a line in the unmatched queue: the rules' proposals first, then open
invoices of the same amount, then customers with a similar name; the manual-match page shows
them in that order."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.payments.incoming.importing import import_statement
from app.payments.incoming.matching import suggestions_for
from app.payments.incoming.models import StatementLine
from app.payments.rules import AMOUNT, INVOICE_NUMBER, NAME
from tests.helpers import make_customer, make_invoice
from tests.payments.statements.builders import Entry, Tx, camt053


@pytest.fixture
def ranked_line():
    """A 75.00 payment by "Janssens Bakery" quoting an invoice of 250.00 of another customer,
    while a third customer has an invoice of exactly 75.00 open."""
    by_rule = make_customer(name="Brasserie Dupont")
    quoted = make_invoice(by_rule, "250.00", due_in_days=-10)
    by_amount = make_customer(name="Garage Martin")
    same_amount = make_invoice(by_amount, "75.00", due_in_days=-3)
    by_name = make_customer(name="Janssens Bakery")
    make_customer(name="Peeters Consulting")  # nothing in common: never suggested
    report = import_statement(camt053([Entry("75.00", ref="1", txs=[Tx(
        ustrd=[f"acompte {quoted.number}"], name="Janssens Bakery", iban=None)])]), "s.xml")
    assert report.ok, report.error
    line = db.session.scalar(select(StatementLine))
    assert line.status == "suggested"
    return line, (by_rule, quoted), (by_amount, same_amount), by_name


def test_rules_first_then_same_amount_then_similar_name(ranked_line):
    line, (by_rule, quoted), (by_amount, same_amount), by_name = ranked_line
    suggestions = suggestions_for(line)
    assert [(p.rule, p.customer_id) for p in suggestions] == [
        (INVOICE_NUMBER, by_rule.id), (AMOUNT, by_amount.id), (NAME, by_name.id)]
    assert [i.id for i in suggestions[0].invoices] == [quoted.id]
    assert [i.id for i in suggestions[1].invoices] == [same_amount.id]
    assert suggestions[0].confidence > suggestions[1].confidence >= suggestions[2].confidence
    assert suggestions_for(line, limit=2) == suggestions[:2]


def test_the_manual_match_page_shows_them_in_that_order(staff_client, ranked_line):
    line, (by_rule, _quoted), (by_amount, _same), by_name = ranked_line
    page = staff_client("AR clerk").get(f"/matching/line/{line.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    table = re.search(r'<table class="table table-condensed" id="suggestions">(.*?)</table>', html,
                      re.DOTALL).group(1)
    rows = re.findall(r'<tr class="cd-suggestion">(.*?)</tr>', table, re.DOTALL)
    numbers = [re.search(r"<td>(C\d+) ", row).group(1) for row in rows]
    assert numbers == [by_rule.number, by_amount.number, by_name.number]
    assert [re.search(r"<td>(\d+)</td>", row).group(1) for row in rows] == ["1", "2", "3"]
    # The manual-match form starts from the best suggestion's customer.
    form = html[html.index('id="manual-match"'):]
    assert f'value="{by_rule.number}"' in form
