"""Importing: the same file or overlapping files never book an entry twice."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.extensions import db
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import BankStatement, StatementLine
from app.payments.models import Allocation, Payment
from tests.payments.statements.builders import CodaMovement, Entry, Tx, camt053, coda
from tests.payments.statements.conftest import count, fresh, state


def _entries(invoices):
    return [Entry(str(invoice.open_amount), ref=f"REF-{n}", entry_ref=f"N{n}",
                  txs=[Tx(strd=[(invoice.structured_reference, "SCOR", "BBA")])])
            for n, invoice in enumerate(invoices)]


def test_the_same_file_twice_books_once(invoices):
    data = camt053(_entries(invoices))
    first = import_statement(data, "day1.xml")
    assert first.ok and first.matched.count == 3
    after_first = state()
    again = import_statement(data, "day1-copy.xml")
    assert again.error_code == "already_imported"
    assert "already imported" in again.error
    assert state() == after_first
    assert count(Allocation) == 3


def test_an_overlapping_file_books_only_its_new_entries(customer, invoices):
    day1 = camt053(_entries(invoices[:2]), statement_id="S1")
    # The next file repeats yesterday's second entry and brings a new one.
    day2 = camt053(_entries(invoices[:3])[1:], statement_id="S2")
    assert import_statement(day1, "s1.xml").new_lines == 2
    report = import_statement(day2, "s2.xml")
    assert report.ok
    assert (report.entries, report.new_lines, report.duplicates) == (2, 1, 1)
    assert report.matched.count == 1
    statement = db.session.scalar(select(BankStatement).where(
        BankStatement.statement_ref == "S2"))
    assert (statement.line_count, statement.duplicate_count) == (1, 1)
    assert count(Payment) == 3 and count(Allocation) == 3
    assert [fresh(i).status for i in invoices] == ["paid", "paid", "paid"]
    assert fresh(customer).balance == D("0.00")


def test_entries_without_bank_reference_are_recognised_by_their_content(invoices):
    entries = [Entry("10.00", txs=[Tx(ustrd=["gift"])]), Entry("10.00", txs=[Tx(ustrd=["gift"])])]
    first = import_statement(camt053(entries, statement_id="A"), "a.xml")
    assert first.new_lines == 2  # two identical transfers on one day are both kept
    # A later file holding the same two and one more: only the new one is stored.
    second = import_statement(camt053(entries + [Entry("11.00", txs=[Tx(ustrd=["gift"])])],
                                      statement_id="B"), "b.xml")
    assert (second.new_lines, second.duplicates) == (1, 2)
    assert count(StatementLine) == 3


def test_coda_overlap_by_bank_reference(invoices):
    movement = CodaMovement(str(invoices[0].open_amount), ogm=invoices[0].structured_reference,
                            bank_ref="KBC-REF-1")
    assert import_statement(coda([movement]), "a.cod").matched.count == 1
    report = import_statement(coda([movement, CodaMovement("5.00", text="other",
                                                           bank_ref="KBC-REF-2")],
                                   number="043"), "b.cod")
    assert (report.new_lines, report.duplicates) == (1, 1)
    assert count(Allocation) == 1


def test_the_report_counts_and_amounts(customer, invoices):
    data = camt053([
        Entry("121.00", ref="1", txs=[Tx(strd=[(invoices[0].structured_reference, "SCOR",
                                                 "BBA")])]),
        Entry("33.00", ref="2", txs=[Tx(ustrd=["no reference"], iban="NL91ABNA0417164300")]),
        Entry("20.00", ref="3", credit=False, txs=[Tx(name="Our supplier")]),
        Entry("7.00", ref="4", status="PDNG"),
    ])
    report = import_statement(data, "mixed.xml")
    assert report.entries == 3 and report.skipped == 1
    assert (report.matched.count, report.matched.amount) == (1, D("121.00"))
    assert (report.unmatched.count, report.unmatched.amount) == (1, D("33.00"))
    assert (report.ignored.count, report.ignored.amount) == (1, D("-20.00"))
    line = db.session.scalar(select(StatementLine).where(StatementLine.amount == D("33.00")))
    # Money in that matched nothing is booked as an unmatched payment, waiting in the queue.
    assert line.status == "unmatched" and line.payment.customer_id is None
    assert line.payment.status == "unmatched" and line.payment.unallocated_amount == D("33.00")
    assert report.as_dict()["matched"] == {"count": 1, "amount": "121.00",
                                           "amounts": {"EUR": "121.00"}}


def test_a_small_chunk_size_gives_the_same_result(customer, invoices):
    data = camt053(_entries(invoices) + [Entry("1.00", ref="X", txs=[Tx(ustrd=["?"],
                                                                         iban=None)])])
    report = import_statement(data, "chunks.xml", chunk_size=1)
    assert report.matched.count == 3 and report.unmatched.count == 1
    assert [fresh(i).status for i in invoices] == ["paid", "paid", "paid"]


def test_an_invoice_changed_during_the_import_is_not_overwritten(invoices):
    from app.invoices.models import Invoice
    from app.payments.incoming.bulk import InvoiceChanged, load_invoice_rows, update_invoices

    (row,) = load_invoice_rows(Invoice.id == invoices[0].id, lock=False)
    # Meanwhile a person books 21.00 on it...
    invoice = fresh(invoices[0])
    invoice.open_amount = D("100.00")
    db.session.commit()
    # ...so the import's write, computed from 121.00, must not land.
    row.open_amount, row.status = D("0.00"), "paid"
    with pytest.raises(InvoiceChanged):
        update_invoices([row])
    db.session.rollback()
    assert fresh(invoices[0]).open_amount == D("100.00")


def test_a_big_file_writes_each_balance_once_and_exactly(customer, invoices, monkeypatch):
    """Above payments.inline_messages_max the balance changes of the whole file are added up
    and written once per customer before the commit; a return in a later chunk (the ORM path,
    which recomputes the balance from the payments stored) must not count them twice."""
    from app.core.settings import set_setting
    from app.customers.services import compute_balance
    from app.payments.incoming import importing
    from tests.payments.statements.test_returns import _collect, _return

    set_setting("payments.inline_messages_max", 0)
    db.session.commit()
    # The messages' job (which refreshes the balances it reads) is not run: the import's own
    # balances are checked.
    monkeypatch.setattr(importing, "_hand_over_messages", lambda ids: None)
    entries = _entries(invoices[:2]) + [_collect(invoices[2], n=9),
                                        _return("80.00", n=9, e2e=invoices[2].number)]
    report = import_statement(camt053(entries), "big.xml", chunk_size=1)
    assert report.messages == "deferred"
    assert (report.matched.count, report.returns.count) == (3, 1)
    assert [fresh(i).status for i in invoices] == ["paid", "paid", "open"]
    assert fresh(customer).balance == D("80.00") == compute_balance(customer.id)
