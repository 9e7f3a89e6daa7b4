"""What a message template can see: plain display values, never ORM objects.

Every message gets ``customer``, ``company`` and ``portal_url``; each event adds its own values
(see services.py). Staff previewing a template on a real customer get the same base values and
sample values for the event (``preview_context``), taken from that customer's own records where
there are some.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.core.settings import company_details, get_setting
from app.core.time import business_today
from app.customers.models import Customer
from app.extensions import db


def public_url(path: str = "") -> str:
    """``path`` on the public address (app.core.links: PUBLIC_URL, never a request's Host)."""
    from app.core.links import absolute

    return absolute(path)


def contact_name(customer: Customer) -> str:
    """Who a message greets: the billing contact's name, else the customer's."""
    billing = next((c for c in customer.contacts if c.role == "billing" and c.name), None)
    return billing.name if billing else customer.name


def customer_view(customer: Customer) -> dict[str, Any]:
    return {"name": customer.name, "number": customer.number, "language": customer.language,
            "kind": customer.kind, "is_business": customer.kind == "company",
            "email": customer.email or "", "contact_name": contact_name(customer),
            "balance": customer.balance}


def company_view() -> dict[str, Any]:
    return {key: value for key, value in company_details().items()}


def base_context(customer: Customer, company: dict | None = None,
                 portal_url: str | None = None) -> dict[str, Any]:
    return {"customer": customer_view(customer),
            "company": company if company is not None else company_view(),
            "portal_url": portal_url if portal_url is not None else public_url("/portal/")}


def preview_context(key: str, customer: Customer) -> dict[str, Any]:
    """Believable values for every variable the default template of ``key`` uses."""
    from app.invoices.models import Invoice

    today = business_today()
    invoice = db.session.scalar(select(Invoice).where(Invoice.customer_id == customer.id)
                                .order_by(Invoice.due_date.desc()).limit(1))
    number = invoice.number if invoice else "INV-000123"
    amount = invoice.open_amount if invoice is not None else Decimal("125.00")
    due = invoice.due_date if invoice is not None else today + timedelta(days=14)
    reference = "+++090/9337/55493+++"
    installments = [{"sequence": n, "due_date": today + timedelta(days=30 * n),
                     "amount": Decimal("50.00"), "reference": reference} for n in (1, 2, 3)]
    samples = {
        "invoice_number": number, "invoice_numbers": [number], "amount": amount,
        "open_amount": amount, "due_date": due, "original_due_date": due,
        "new_due_date": due + timedelta(days=30), "payment_amount": Decimal("125.00"),
        "payment_date": today, "balance": customer.balance,
        "is_direct_debit": True, "return_reason": "insufficient_funds",
        "return_reason_code": "AM04",
        "invoices": [{"number": number, "amount": amount, "open_amount": Decimal("0.00")}],
        "settled_on": today, "request_number": "1042", "request_kind": "deferral",
        "request_kind_label": "Deferral", "answer_by": today + timedelta(days=2),
        "approved": True, "decision_note": "", "plan_total": Decimal("150.00"),
        "subject": "Invoice question", "comment_text": "Please find the copy attached.",
        "installment_count": 3, "installments": installments,
        "first_due_date": installments[0]["due_date"], "installment_sequence": 1,
        "installment_amount": Decimal("50.00"), "installment_due_date": installments[0]["due_date"],
        "structured_reference": reference, "missed_amount": Decimal("50.00"),
        "mandate_reference": "CD-000042", "iban_masked": "BE** **** **** 7931",
        "new_email": "new.address@example.com",
        "confirm_url": public_url("/portal/confirm-email/SAMPLE"),
        "login_url": public_url("/portal/login/SAMPLE"), "valid_minutes": 15,
        "valid_hours": 24,
        "contract_reference": "CTR-2024-001", "contract_description": "Maintenance contract",
        "renewal_date": today + timedelta(days=45), "notice_deadline": today + timedelta(days=44),
        "iban": company_details().get("iban"),
        "cooloff_ends_on": today + timedelta(days=3), "code": "123456",
        "collection_date": today + timedelta(days=14),
        "creditor_id": get_setting("company.creditor_id"),
    }
    return {**samples, **base_context(customer)}
