"""Which online payment methods a pay link offers: the ones people use in the customer's
country, through the payment-provider plugin (Mollie knows them all; the demo provider
pretends). Belgium: Bancontact, whose app also pays Payconiq (now Wero) QR codes; the
Netherlands: iDEAL; everyone: cards. The chosen method is passed to the provider, so its page
opens straight on it (on a phone: the banking app)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.customers.models import Customer

LABELS = {
    "bancontact": _l("Pay with Bancontact / Payconiq (Wero)"),
    "ideal": _l("Pay with iDEAL"),
    "creditcard": _l("Pay by card"),
}
BY_COUNTRY = {"BE": ("bancontact", "creditcard"), "NL": ("ideal", "creditcard")}
ELSEWHERE = ("creditcard",)


def methods_for_country(country: str | None) -> tuple[str, ...]:
    return BY_COUNTRY.get((country or "").upper(), ELSEWHERE)


def offered_methods(customer: Customer) -> list[tuple[str, str]]:
    """(method code, button label) for this customer; [] when no provider takes payments."""
    from app.payments.online.provider import preferred_provider

    if preferred_provider() is None:
        return []
    return [(code, str(LABELS[code])) for code in methods_for_country(customer.country)]
