"""The demo a first start seeds: who the customers are, invoices in every state, the stories."""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from stdnum import iban, iso11649
from stdnum.be import vat as be_vat
from stdnum.fr import tva as fr_tva
from stdnum.nl import btw as nl_btw

from app.customers.models import Address, BankAccount, Contact, Customer, Mandate
from app.demo import INVOICE_STATES, seed_demo_data
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice, InvoiceLine
from app.invoices.references import is_valid_ogm
from app.payments.models import Allocation, Payment
from app.requests.models import CustomerRequest, Deferral, Dispute, Installment, PaymentPlan

TODAY = date(2025, 3, 14)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
VAT_CHECKS = {"BE": be_vat, "NL": nl_btw, "FR": fr_tva}


@pytest.fixture
def demo():
    return seed_demo_data(today=TODAY)


def all_of(model):
    return db.session.scalars(select(model)).all()


def state_on(invoice: Invoice, today: date) -> str:
    """The demo's invoice states, worked out from what is stored, as a user would see them."""
    if invoice.disputed:
        return "disputed"
    if invoice.status in ("paid", "partially_paid"):
        return {"paid": "paid", "partially_paid": "partly_paid"}[invoice.status]
    days_late = (today - invoice.due_date).days
    if days_late < -7:
        return "not_due"
    if days_late < 0:
        return "due_soon"
    for limit, state in ((10, "overdue_5"), (30, "overdue_20"), (60, "overdue_45")):
        if days_late <= limit:
            return state
    return "overdue_90"


def test_customers_are_people_and_companies_in_three_languages(demo):
    customers = all_of(Customer)
    assert len(customers) >= 25
    assert {c.language for c in customers} == {"fr", "nl", "en"}
    assert {c.kind for c in customers} == {"person", "company"}
    assert {c.country for c in customers} >= {"BE", "NL", "FR"}
    assert {a.city for a in all_of(Address)} >= {"Bruxelles", "Liège", "Gent", "Antwerpen"}
    for customer in customers:
        assert re.fullmatch(r"[\w.-]+@example\.(be|nl|fr)", customer.email), customer.email
        assert E164.match(customer.phone), customer.phone
        assert any(c.role == "billing" for c in customer.contacts), customer.name
        assert customer.addresses and customer.addresses[0].postal_code
        if customer.kind == "company":
            assert VAT_CHECKS[customer.vat_number[:2]].is_valid(customer.vat_number), customer.name
            billing = next(c for c in customer.contacts if c.role == "billing")
            assert billing.name != customer.name and billing.email != customer.email
        else:
            assert customer.vat_number is None
    accounts = all_of(BankAccount)
    assert len(accounts) >= 5
    assert all(iban.is_valid(a.iban) for a in accounts)
    assert len(all_of(Contact)) > len(customers)  # some companies have a reminder contact too


def test_invoices_cover_every_state_relative_to_today(demo):
    invoices = all_of(Invoice)
    assert len(invoices) == sum(INVOICE_STATES.values()) == 300
    assert Counter(state_on(i, TODAY) for i in invoices) == INVOICE_STATES
    assert all(Decimal(35) <= i.total_amount <= Decimal(4800) for i in invoices)
    assert all(i.issue_date <= TODAY and i.issue_date <= i.due_date for i in invoices)
    assert demo.invoices == 300 and demo.created


def test_every_invoice_has_its_own_valid_references(demo):
    invoices = all_of(Invoice)
    assert all(is_valid_ogm(i.structured_reference) for i in invoices)
    assert all(iso11649.is_valid(i.rf_reference) for i in invoices)
    assert len({i.structured_reference for i in invoices}) == len(invoices)
    assert len({i.number for i in invoices}) == len(invoices)


def test_paid_and_partly_paid_invoices_have_payments_allocated(demo):
    for invoice in all_of(Invoice):
        allocated = db.session.scalar(select(func.coalesce(func.sum(Allocation.amount), 0))
                                      .where(Allocation.invoice_id == invoice.id))
        assert Decimal(allocated) == invoice.total_amount - invoice.open_amount, invoice.number
        if invoice.status == "paid":
            assert invoice.open_amount == 0 and invoice.paid_on <= TODAY
        elif invoice.status == "partially_paid":
            assert 0 < invoice.open_amount < invoice.total_amount
    assert all(p.received_on <= TODAY for p in all_of(Payment))


def test_some_invoices_have_lines_that_add_up(demo):
    with_lines = [i for i in all_of(Invoice) if i.lines]
    assert len(with_lines) >= 30
    for invoice in with_lines:
        assert sum(line.amount for line in invoice.lines) == invoice.total_amount
    assert {line.vat_rate for line in all_of(InvoiceLine)} == {Decimal(21), Decimal(6)}


def test_each_balance_is_the_sum_of_the_open_invoices(demo):
    for customer in all_of(Customer):
        open_total = sum((i.open_amount for i in all_of(Invoice)
                          if i.customer_id == customer.id and i.status in OPEN_STATUSES),
                         Decimal(0))
        assert customer.balance == open_total, customer.name
    assert sum(c.balance for c in all_of(Customer)) > Decimal(10000)


def test_disputed_invoices_have_an_open_dispute_and_a_request(demo):
    disputed = [i for i in all_of(Invoice) if i.disputed]
    assert len(disputed) == INVOICE_STATES["disputed"]
    for invoice in disputed:
        dispute = db.session.scalar(select(Dispute).where(Dispute.invoice_id == invoice.id))
        assert dispute.status == "open" and dispute.amount == invoice.disputed_amount > 0
        request = db.session.get(CustomerRequest, dispute.request_id)
        assert request.kind == "dispute" and invoice in request.invoices
        assert dispute.text == request.message


def test_one_customer_is_in_legal_proceedings(demo):
    legal = [c for c in all_of(Customer) if c.legal_status == "legal_proceedings"]
    assert len(legal) == 1
    assert legal[0].balance > 0
    assert all((TODAY - i.due_date).days > 60 for i in all_of(Invoice)
               if i.customer_id == legal[0].id and i.status == "open")


def test_one_customer_pays_an_active_plan_in_instalments(demo):
    (plan,) = all_of(PaymentPlan)
    assert plan.status == "active" and len(plan.invoices) == 3
    assert all(i.customer_id == plan.customer_id and i.is_open for i in plan.invoices)
    installments = plan.installments
    assert len(installments) == plan.installment_count == 6
    assert sum(i.amount for i in installments) == plan.total_amount
    assert [i.due_date for i in installments] == sorted(i.due_date for i in installments)
    invoice_ogms = {i.structured_reference for i in all_of(Invoice)}
    for installment in installments:
        assert is_valid_ogm(installment.structured_reference)
        assert installment.structured_reference not in invoice_ogms
    assert installments[0].status == "paid" and installments[0].due_date < TODAY
    assert all(i.status == "due" and i.due_date > TODAY for i in installments[1:])
    # The first instalment's money went to the plan's oldest invoice.
    assert plan.customer.balance == plan.total_amount - installments[0].amount
    assert db.session.get(CustomerRequest, plan.request_id).status == "approved"


def test_one_customer_pays_by_direct_debit_under_an_active_mandate(demo):
    (customer,) = [c for c in all_of(Customer) if c.payment_method == "direct_debit"]
    (mandate,) = all_of(Mandate)
    assert mandate.customer_id == customer.id and mandate.status == "active"
    assert mandate.reference and len(mandate.reference) <= 35
    assert mandate.signed_on and mandate.signed_at and mandate.signature_name == customer.name
    assert mandate.bank_account.purpose == "direct_debit"
    assert mandate.bank_account.status == "active"
    assert mandate.last_collection_on < TODAY
    assert {p.method for p in all_of(Payment) if p.customer_id == customer.id} == {"direct_debit"}


def test_requests_wait_in_different_statuses_with_a_service_level(demo):
    requests = all_of(CustomerRequest)
    assert {"deferral", "question", "dispute", "payment_plan"} <= {r.kind for r in requests}
    assert all(r.sla_due_at and r.sla_due_at > r.created_at for r in requests)
    deferrals = {r.status for r in requests if r.kind == "deferral"}
    assert len(deferrals) >= 3 and "approved" in deferrals
    assert len({r.status for r in requests if r.kind == "question"}) == 2
    (deferral,) = all_of(Deferral)
    assert deferral.status == "active" and deferral.new_due_date > TODAY
    assert demo.requests == len(requests)


def test_seeding_twice_adds_nothing(demo):
    counts = [db.session.scalar(select(func.count()).select_from(m))
              for m in (Customer, Invoice, Payment, CustomerRequest, Installment)]
    again = seed_demo_data(today=TODAY)
    assert not again.created
    assert counts == [db.session.scalar(select(func.count()).select_from(m))
                      for m in (Customer, Invoice, Payment, CustomerRequest, Installment)]


def test_the_demo_is_the_same_every_time():
    first = seed_demo_data(today=TODAY)
    snapshot = _snapshot()
    _empty_domain_tables()
    second = seed_demo_data(today=TODAY)
    assert first.created and second.created
    assert _snapshot() == snapshot


def test_dates_follow_the_day_it_is_seeded():
    seed_demo_data(today=TODAY + timedelta(days=100))
    counts = Counter(state_on(i, TODAY + timedelta(days=100)) for i in all_of(Invoice))
    assert counts == INVOICE_STATES


def _snapshot():
    return sorted((i.number, i.customer.number, i.due_date, i.total_amount, i.open_amount,
                   i.status) for i in all_of(Invoice))


def _empty_domain_tables():
    from flask_appbuilder import Model

    db.session.rollback()
    for table in reversed(Model.metadata.sorted_tables):
        if not table.name.startswith("ab_") and table.name != "alembic_version":
            db.session.execute(table.delete())
    db.session.commit()
