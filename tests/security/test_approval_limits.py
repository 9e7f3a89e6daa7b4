"""Issue 12 #4: approval limits hold on every screen.

The attack: a signed-in staff member uses Flask-AppBuilder's generic add / edit / delete (with a
valid CSRF token read from the page, as a browser sends it) to create an already-open credit note,
reopen a refused one, write off an invoice by its status, activate a bank account or a mandate...
For every role and every such request, the money-moving state in the database does not change,
except what the domain services do under the limits (a credit note above the user's limit waits
for approval; an account or a mandate recorded pending). Then the dedicated actions: within the
limit they work, above it they leave a pending approval.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask_appbuilder import ModelView
from sqlalchemy import select

from app.core.audit_models import AuditEvent
from app.core.money_guard import (
    ProtectedChange,
    generic_write,
    protected_attributes,
    protection_for,
)
from app.core.roles import ADMIN, AR_CLERK, CREDIT_MANAGER, STAFF_ROLES
from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.payments.outgoing.models import WriteOff
from tests.helpers import make_customer, make_invoice
from tests.security.money_support import (
    decimal,
    login,
    make_money_records,
    money_state,
    page_token,
    state_changes,
)

# Roles that may add records on these screens (the add itself goes through the services).
WRITERS = {ADMIN, CREDIT_MANAGER, AR_CLERK}


def _invoice_form(r, invoice_id: int) -> dict:
    invoice = db.session.get(Invoice, invoice_id)
    return {"customer": str(invoice.customer_id), "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(), "description": "",
            "structured_reference": invoice.structured_reference, "dunning_block_reason": ""}


def _attacks(r) -> list[tuple[str, str, str, dict]]:
    """(name, method, url, form) — the form carries the protected fields an attacker would add."""
    today = date.today().isoformat()
    big = db.session.get(Invoice, r.big_invoice_id)
    return [
        ("credit note: add, already open, 5,000", "POST", "/creditnoteview/add",
         {"customer": str(r.customer_id), "invoice": str(r.big_invoice_id), "issue_date": today,
          "amount": "5000.00", "reason": "goodwill", "status": "open", "number": "CN-HACK",
          "open_amount": "5000.00"}),
        ("credit note: reopen a refused one", "POST", f"/creditnoteview/edit/{r.refused_note_id}",
         {"issue_date": today, "reason": "goodwill", "status": "open", "amount": "5000.00",
          "open_amount": "5000.00"}),
        ("invoice: write off by its status", "POST", f"/invoiceview/edit/{r.big_invoice_id}",
         {**_invoice_form(r, r.big_invoice_id), "total_amount": str(big.total_amount),
          "status": "written_off", "open_amount": "0.00"}),
        ("invoice: lower the total", "POST", f"/invoiceview/edit/{r.big_invoice_id}",
         {**_invoice_form(r, r.big_invoice_id), "total_amount": "0.01"}),
        ("invoice: re-add an existing number", "POST", "/invoiceview/add",
         {**_invoice_form(r, r.big_invoice_id), "number": big.number, "total_amount": "0.01"}),
        ("invoice: delete", "POST", f"/invoiceview/delete/{r.big_invoice_id}", {}),
        ("payment: edit the amount", "POST", f"/paymentview/edit/{r.payment_id}",
         {"amount": "1.00", "unallocated_amount": "1000.00", "status": "unmatched"}),
        ("payment: delete", "POST", f"/paymentview/delete/{r.payment_id}", {}),
        ("allocation: add", "POST", "/allocationview/add",
         {"invoice": str(r.big_invoice_id), "payment": str(r.payment_id),
          "amount": "3579.41", "rule": "manual"}),
        ("allocation: edit", "POST", f"/allocationview/edit/{r.allocation_id}",
         {"amount": "0.01"}),
        ("allocation: delete", "POST", f"/allocationview/delete/{r.allocation_id}", {}),
        ("bank account: add an active refund account", "POST", "/bankaccountview/add",
         {"customer": str(r.customer_id), "iban": "BE62510007547061", "bic": "",
          "holder": "Mallory", "purpose": "refund", "status": "active",
          "active_from": "2000-01-01 00:00:00"}),
        ("bank account: activate one in cool-off", "POST",
         f"/bankaccountview/edit/{r.refund_account_id}",
         {"bic": "", "holder": "Target Ltd", "status": "active", "iban": "BE62510007547061",
          "active_from": "2000-01-01 00:00:00"}),
        ("bank account: delete", "POST", f"/bankaccountview/delete/{r.refund_account_id}", {}),
        ("mandate: add an active one", "POST", "/mandateview/add",
         {"customer": str(r.customer_id), "bank_account": str(r.dd_account_id),
          "reference": "CD-HACK-1", "creditor_id": "", "scheme": "CORE",
          "sequence": "recurrent", "signed_on": today, "signed_place": "Brussels",
          "signature_name": "T. Arget", "status": "active"}),
        ("mandate: activate, or point at another account", "POST",
         f"/mandateview/edit/{r.mandate_id}",
         {"creditor_id": "", "scheme": "CORE", "sequence": "recurrent", "signed_place": "",
          "status": "active", "bank_account": str(r.refund_account_id)}),
        ("mandate: delete", "POST", f"/mandateview/delete/{r.mandate_id}", {}),
        ("customer request: set its status", "POST",
         f"/customerrequestview/edit/{r.question_request_id}",
         {"assignee": "", "sla_due_at": "", "status": "approved", "decision_note": "ok"}),
    ]


def _allowed(name: str, role: str, changes: dict, r) -> list[str]:
    """What a service may legitimately have done for this request; returns the problems."""
    problems = []
    rest = dict(changes)
    if name.startswith("credit note: add") and role in WRITERS:
        notes = rest.pop("CreditNote", {"added": []})
        added = notes.get("added", [])
        if len(added) != 1 or notes.get("removed") or notes.get("changed"):
            return [f"expected one new credit note, got {notes}"]
        note = added[0]
        if note["number"] == "CN-HACK":
            problems.append("the credit note number was typed in")
        if role == ADMIN:  # no limit: approved at once, by the Admin, with an audit record
            if note["status"] not in ("open", "allocated") or note["approved_by_id"] == "None":
                problems.append(f"Admin's credit note not approved: {note}")
            for model in ("Invoice", "Allocation", "Customer"):
                rest.pop(model, None)
        elif note["status"] != "proposed":
            problems.append(f"above the limit, yet {note['status']}")
    if name.startswith("bank account: add") and role in WRITERS:
        accounts = rest.pop("BankAccount", {"added": []})
        added = accounts.get("added", [])
        if accounts.get("removed"):
            return [f"a bank account was removed: {accounts}"]
        if len(added) != 1 or added[0]["status"] != "pending":
            problems.append(f"a new refund account is not pending: {added}")
        # The service replaces the account still in cool-off (retired), nothing else.
        if any(new["status"] != "retired" or old["status"] != "pending"
               or {k: v for k, v in old.items() if k not in ("status", "retired_at")}
               != {k: v for k, v in new.items() if k not in ("status", "retired_at")}
               for old, new in accounts.get("changed", [])):
            problems.append(f"another account changed: {accounts['changed']}")
        requests = rest.pop("CustomerRequest", {})
        if [q["kind"] for q in requests.get("added", [])] != ["bank_account"]:
            problems.append(f"no bank_account request for the cool-off: {requests}")
    if name.startswith("mandate: add") and role in WRITERS:
        mandates = rest.pop("Mandate", {"added": []})
        added = mandates.get("added", [])
        if len(added) != 1 or added[0]["status"] != "pending" or mandates.get("changed"):
            problems.append(f"expected one new pending mandate, got {mandates}")
    if rest:
        problems.append(f"changed: {rest}")
    return problems


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_generic_screens_never_move_money(app, role):
    records = make_money_records()
    client = login(app, role) or app.test_client()  # a role that may not sign in: anonymous
    failures = []
    for name, method, url, form in _attacks(records):
        form_page = url if "/delete/" not in url else url.replace("/delete/", "/show/")
        data = {**form, "csrf_token": page_token(client, form_page)}
        before = money_state()
        response = client.open(url, method=method, data=data)
        db.session.rollback()
        if response.status_code >= 500:
            failures.append(f"{name}: {response.status_code}")
            continue
        problems = _allowed(name, role, state_changes(before, money_state()), records)
        failures += [f"{name}: {p}" for p in problems]
    assert not failures, f"{role}:\n" + "\n".join(failures)
    # No credit note is open or allocated without someone having approved it.
    for note in db.session.scalars(select(CreditNote)):
        assert note.status not in ("open", "allocated") or note.approved_by_id is not None


def test_every_screen_on_money_is_guarded(app):
    """Every registered ModelView on a protected model: no protected column in its edit form, no
    generic add (unless through a service), no delete where people may not delete."""
    from app.core.admin import StaffModelView

    checked = 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, ModelView):
            continue
        protection = protection_for(view.datamodel.obj)
        if protection is None:
            continue
        checked += 1
        name = type(view).__name__
        if not isinstance(view, StaffModelView):  # unguarded: then it must only show
            assert not {"can_add", "can_edit", "can_delete"} & set(view.base_permissions), name
            continue
        hidden = protected_attributes(view.datamodel.obj)
        if "can_edit" in view.base_permissions:
            allowed = set(getattr(view, "service_fields", ()))
            leaked = (set(view.edit_columns) & hidden) - allowed
            assert not leaked, f"{name} edits {leaked}"
            # The class says so itself (the guard is the safety net, not the configuration).
            assert not (set(type(view).edit_columns or []) & hidden) - allowed, name
        if "can_add" in view.base_permissions and not protection.add:
            assert view.create_from_form is not None, f"{name} adds through the generic path"
        if not protection.delete:
            assert "can_delete" not in view.base_permissions, f"{name} deletes"
            assert "can_delete" not in (type(view).base_permissions or []), name
    assert checked >= 15


def test_the_database_guard_refuses_a_protected_change_in_a_generic_write(app):
    """The second line: whatever a screen's hooks do, a generic write flushes no protected
    change (a view that forgot its form configuration still cannot move money)."""
    invoice = make_invoice(make_customer(), total="3579.41")
    invoice.status = "written_off"
    with generic_write(object()), pytest.raises(ProtectedChange):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == "open"
    invoice.description = "not money"
    with generic_write(object()):
        db.session.commit()  # a change that moves no money goes through
    assert db.session.get(Invoice, invoice.id).description == "not money"


# --- the dedicated actions -------------------------------------------------------------------

def _post(client, url: str, form: dict, page: str):
    return client.post(url, data={**form, "csrf_token": page_token(client, page)})


def test_a_credit_note_within_the_limit_is_approved_and_allocated_at_once(app):
    customer = make_customer()
    invoice = make_invoice(customer, total="300.00")
    client = login(app, AR_CLERK)
    response = _post(client, "/creditnoteview/add",
                     {"customer": str(customer.id), "invoice": str(invoice.id),
                      "issue_date": date.today().isoformat(), "amount": "80.00",
                      "reason": "damaged box"}, "/creditnoteview/add")
    assert response.status_code == 302
    note = db.session.scalar(select(CreditNote))
    assert note.status == "allocated" and note.approved_by_id is not None
    assert note.number.startswith("CN-")
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_amount == Decimal("220.00")
    actions = set(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity == "credit_note")))
    assert {"credit_note_proposed", "credit_note_approved"} <= actions


def test_a_credit_note_above_the_limit_waits_for_someone_whose_limit_covers_it(app):
    customer = make_customer()
    invoice = make_invoice(customer, total="6000.00")
    clerk = login(app, AR_CLERK)
    response = _post(clerk, "/creditnoteview/add",
                     {"customer": str(customer.id), "invoice": str(invoice.id),
                      "issue_date": date.today().isoformat(), "amount": "5000.00",
                      "reason": "goodwill"}, "/creditnoteview/add")
    assert response.status_code == 302
    note = db.session.scalar(select(CreditNote))
    assert note.status == "proposed" and note.approved_by_id is None
    assert "above your approval limit" in clerk.get("/creditnoteview/list/").get_data(as_text=True)
    # The clerk's own approval is refused, and so is the credit manager's (limit 1,000).
    for role in (AR_CLERK, CREDIT_MANAGER):
        approver = login(app, role)
        _post(approver, f"/adjustments/credit-notes/{note.id}/approve", {}, "/adjustments/")
        db.session.expire_all()
        assert db.session.get(CreditNote, note.id).status == "proposed"
        assert db.session.get(Invoice, invoice.id).open_amount == Decimal("6000.00")
    admin = login(app, ADMIN)
    _post(admin, f"/adjustments/credit-notes/{note.id}/approve", {}, "/adjustments/")
    db.session.expire_all()
    assert db.session.get(CreditNote, note.id).status == "allocated"
    assert db.session.get(Invoice, invoice.id).open_amount == Decimal("1000.00")


def test_a_write_off_goes_through_its_approval(app):
    customer = make_customer()
    big = make_invoice(customer, total="3579.41", due_in_days=-40,
                       issue_date=date.today() - timedelta(days=60))
    small = make_invoice(customer, total="40.00", due_in_days=-40,
                         issue_date=date.today() - timedelta(days=60))
    clerk = login(app, AR_CLERK)
    for invoice in (big, small):
        _post(clerk, "/adjustments/write-offs", {"invoice_number": invoice.number,
                                                 "reason": "insolvent"}, "/adjustments/")
    proposals = {w.invoice_id: w for w in db.session.scalars(select(WriteOff))}
    assert {w.status for w in proposals.values()} == {"proposed"}
    for write_off in proposals.values():
        _post(clerk, f"/adjustments/write-offs/{write_off.id}/approve", {}, "/adjustments/")
    db.session.expire_all()
    assert db.session.get(Invoice, big.id).status == "open"  # 3,579.41 > the clerk's 50
    assert db.session.get(Invoice, big.id).open_amount == decimal("3579.41")
    assert db.session.get(Invoice, small.id).status == "written_off"  # 40 ≤ 50
    assert db.session.get(WriteOff, proposals[small.id].id).approved_by_id is not None


def test_a_refund_account_added_on_the_screen_waits_for_its_cool_off(app):
    from app.notifications.defaults import install_defaults

    install_defaults()
    customer = make_customer()
    client = login(app, AR_CLERK)
    response = _post(client, "/bankaccountview/add",
                     {"customer": str(customer.id), "iban": "BE04 0682 4613 7931", "bic": "",
                      "holder": "", "purpose": "refund"}, "/bankaccountview/add")
    assert response.status_code == 302
    account = db.session.scalar(select(BankAccount))
    assert account.status == "pending" and account.iban == "BE04068246137931"
    assert account.active_from > account.created_at + timedelta(hours=1)
    from app.customers.bank_accounts import usable_refund_account

    assert usable_refund_account(db.session.get(Customer, customer.id)) is None


def test_a_mandate_added_on_the_screen_is_pending_until_confirmed(app):
    from app.notifications.defaults import install_defaults

    install_defaults()
    customer = make_customer()
    account = BankAccount(customer=customer, iban="BE71096123456769", purpose="direct_debit",
                          status="pending", holder="x")
    db.session.add(account)
    db.session.commit()
    client = login(app, AR_CLERK)
    response = _post(client, "/mandateview/add",
                     {"customer": str(customer.id), "bank_account": str(account.id),
                      "reference": "", "creditor_id": "", "scheme": "CORE",
                      "sequence": "recurrent", "signed_on": date.today().isoformat(),
                      "signed_place": "Gent", "signature_name": "A. Customer"},
                     "/mandateview/add")
    assert response.status_code == 302
    mandate = db.session.scalar(select(Mandate))
    assert mandate.status == "pending" and mandate.reference.startswith("CD-")
    # Confirmed through its action (app.selfservice.mandates.staff_decide): active, with its
    # account, and the customer pays by direct debit.
    _post(client, "/mandateview/action_post", {"action": "confirm_mandates",
                                               "rowid": str(mandate.id)}, "/mandateview/list/")
    db.session.expire_all()
    mandate = db.session.get(Mandate, mandate.id)
    assert mandate.status == "active" and mandate.bank_account.status == "active"
    assert db.session.get(Customer, customer.id).payment_method == "direct_debit"


def test_a_mandate_cannot_be_recorded_on_a_refund_account(app):
    from app.notifications.defaults import install_defaults

    install_defaults()
    customer = make_customer()
    from app.selfservice.bank_accounts import set_refund_account

    refund = set_refund_account(customer, "BE68539007547034", channel="staff")
    db.session.commit()
    client = login(app, AR_CLERK)
    response = _post(client, "/mandateview/add",
                     {"customer": str(customer.id), "bank_account": str(refund.id),
                      "reference": "", "creditor_id": "", "scheme": "CORE",
                      "sequence": "recurrent", "signed_on": date.today().isoformat(),
                      "signed_place": "", "signature_name": "A. Customer"},
                     "/mandateview/add")
    assert response.status_code == 200
    assert "direct-debit accounts" in response.get_data(as_text=True)
    assert db.session.scalar(select(Mandate)) is None
