"""What a message template can see: plain display values, never ORM objects.

Every message gets ``customer``, ``company`` and ``portal_url``; each event adds its own values
(see services.py; app.notifications.events declares them). Staff previewing a template on a
real customer get that customer's display values and the event's sample values
(``events.preview_context``: the events build on this module, never the other way round).
"""
from __future__ import annotations

from typing import Any

from app.core.settings import company_details
from app.customers.models import Customer


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
