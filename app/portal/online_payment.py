"""Pay online through a payment-provider plugin: checkout, return, webhook.

The amounts are the pay pages' own (bank_transfer.pay_invoice / pay_overdue: open amounts less what
is disputed). "Pay online" creates a checkout at the preferred enabled provider and sends the
customer to its hosted page; the provider sends the customer back to the return page, which
fetches the provider's truth before saying paid / pending / failed, and calls the webhook,
which does the same. Either one books the payment, once (app.payments.online.checkouts).
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SubmitField

from app.accounts import bank_transfer
from app.core.i18n import current_language
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import Invoice
from app.payments.online import checkouts
from app.payments.online import provider as providers
from app.portal import auth, bp
from app.portal.auth import current_customer, login_required
from app.portal.forms import csrf_refused

log = logging.getLogger(__name__)
PAY_PAGES = ("portal.pay_invoice", "portal.pay_overdue")
DEMO = "psp_demo"


class PayOnlineForm(FlaskForm):
    submit = SubmitField(_l("Pay online"))


class DemoCheckoutForm(FlaskForm):
    pay = SubmitField(_l("Pay"))
    cancel = SubmitField(_l("Cancel the payment"))


@bp.context_processor
def _online_button() -> dict[str, Any]:
    """The "Pay online" form for the pay pages, only when a provider can take payments."""
    if request.endpoint not in PAY_PAGES:
        return {}
    provider = providers.preferred_provider()
    return {"online_form": PayOnlineForm() if provider else None}


# --- starting -----------------------------------------------------------------------------------

@bp.route("/invoices/<int(max=2147483647):invoice_id>/pay/online", methods=["POST"])
@login_required
def pay_invoice_online(invoice_id: int):
    customer = current_customer()
    found = bank_transfer.pay_invoice(customer.id, invoice_id)
    if found is None:
        abort(404)
    state, transfer = found
    back = url_for("portal.pay_invoice", invoice_id=invoice_id)
    parts = [(state.invoice, transfer.amount)] if transfer else []
    description = _("Invoice %(number)s", number=state.invoice.number)
    return _start(parts, description, back)


@bp.route("/pay/online", methods=["POST"])
@login_required
def pay_overdue_online():
    transfer = bank_transfer.pay_overdue(current_customer().id)
    parts = [(s.invoice, s.payable) for s in transfer.invoices] if transfer else []
    description = _("Invoices %(numbers)s", numbers=", ".join(i.number for i, _a in parts))
    if len(description) > 200:
        description = ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", len(parts))
    return _start(parts, description, url_for("portal.pay_overdue"))


def _start(parts: list[tuple[Invoice, Decimal]], description: str, back: str):
    if not PayOnlineForm().validate_on_submit():
        return csrf_refused()
    base = auth.base_url()
    try:
        checkout = checkouts.start_checkout(
            current_customer(), parts, description=description, language=current_language(),
            return_url_for=lambda checkout_id: base + url_for("portal.online_return",
                                                              checkout_id=checkout_id),
            webhook_url_for=lambda name: base + url_for("portal.online_webhook", provider=name))
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        messages = [m for field in error.errors.values() for m in field]
        status = 409 if "amount" in error.errors else 503
        return render_template("portal/online_unavailable.html", messages=messages,
                               back=back), status
    if checkout.checkout_url.startswith("/"):
        return redirect(checkout.checkout_url, code=303)  # a page of ours (demo provider)
    return redirect(url_for("portal.online_go", checkout_id=checkout.id), code=303)


@bp.route("/payments/<int(max=2147483647):checkout_id>/go")
@login_required
def online_go(checkout_id: int):
    """On to the provider's page. Not a redirect from the POST: browsers apply the pay page's
    CSP "form-action 'self'" to redirects after a form, which would block the provider's host;
    a plain navigation (Refresh header, or the link) is not a form submission."""
    checkout = checkouts.customer_checkout(current_customer().id, checkout_id)
    if checkout is None:
        abort(404)
    if checkout.status != "created" or not checkout.checkout_url:
        return redirect(url_for("portal.online_return", checkout_id=checkout.id))
    response = make_response(render_template("portal/online_go.html", checkout=checkout))
    response.headers["Refresh"] = f"0; url={checkout.checkout_url}"
    return response


# --- coming back ------------------------------------------------------------------------------

@bp.route("/payments/<int(max=2147483647):checkout_id>/return")
@login_required
def online_return(checkout_id: int):
    checkout = checkouts.customer_checkout(current_customer().id, checkout_id)
    if checkout is None:
        abort(404)
    unreachable = False
    if checkout.status == "created":
        try:
            checkouts.refresh(checkout)
            db.session.commit()
        except providers.ProviderError as error:
            db.session.rollback()
            log.warning("checkout %s: status not fetched: %s", checkout_id, error)
            unreachable = True
        except Exception:
            db.session.rollback()
            log.exception("checkout %s: status not applied", checkout_id)
            unreachable = True
        checkout = checkouts.customer_checkout(current_customer().id, checkout_id)
    invoices = db.session.scalars(select(Invoice).where(
        Invoice.id.in_(checkout.invoice_ids or [0]),
        Invoice.customer_id == checkout.customer_id).order_by(Invoice.due_date, Invoice.id)).all()
    return render_template("portal/online_return.html", checkout=checkout, invoices=invoices,
                           unreachable=unreachable)


# --- the provider's webhook -----------------------------------------------------------------------

@bp.route("/payments/webhook/<provider>", methods=["POST"])
def online_webhook(provider: str):
    """Called by the provider, not by a person: no login, no CSRF token (nothing in the body
    is trusted: the status is fetched back from the provider). Answers 200 for anything it
    does not know, 503 when the provider cannot be asked (it retries later)."""
    if len(provider) > 100 or not _allow_webhook(request.remote_addr):
        return "", 429
    try:
        checkouts.handle_webhook(provider, request.form)
    except providers.ProviderError as error:
        log.warning("webhook %s: provider not reachable: %s", provider, error)
        return "", 503
    except Exception:
        db.session.rollback()
        log.exception("webhook %s could not be handled", provider)
        return "", 503
    return "", 200


def _allow_webhook(ip: str | None) -> bool:
    if not auth.setting("PORTAL_RATELIMIT_ENABLED"):
        return True
    from limits import parse as parse_limit

    limit = current_app.config.get("PORTAL_WEBHOOK_LIMIT_PER_IP") or "300 per minute"
    try:
        return auth._limiter().hit(parse_limit(limit), "portal-payment-webhook", ip or "unknown")
    except Exception:
        log.exception("portal rate limiter unavailable; webhook allowed")
        return True


# --- the demo provider's "hosted checkout" ------------------------------------------------------

def _demo_visitor_checkout(checkout_id: int):
    """The signed-in customer's checkout, or one that the pay link open in this browser
    started (a pay link reaches the provider's page without signing in, as with a real PSP)."""
    from app.portal.pay_link_online import link_checkout

    customer = current_customer()
    found = checkouts.customer_checkout(customer.id, checkout_id) if customer else None
    return found or link_checkout(checkout_id)


def _demo_back(checkout) -> str:
    """Where a real provider would send the customer back: the return address it was given
    (its path on this site), else the portal's return page."""
    back = urlsplit(str((checkout.provider_data or {}).get("return_url") or "")).path
    if back.startswith("/portal/") and "//" not in back:
        return back
    return url_for("portal.online_return", checkout_id=checkout.id)


@bp.route("/demo-checkout/<int(max=2147483647):checkout_id>", methods=["GET", "POST"])
def demo_checkout(checkout_id: int):
    checkout = _demo_visitor_checkout(checkout_id)
    if checkout is None and current_customer() is None:
        return redirect(url_for("portal.login"))
    provider = providers.provider_named(DEMO)
    if checkout is None or checkout.provider != DEMO or provider is None \
            or not provider.is_configured():
        abort(404)
    back = _demo_back(checkout)
    form = DemoCheckoutForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        from plugins.psp_demo import decide

        decide(checkout, pay=bool(form.pay.data))
        db.session.commit()  # the provider's side is settled before it calls us back
        try:
            checkouts.handle_webhook(DEMO, {"id": checkout.provider_id})
        except Exception:
            db.session.rollback()
            log.exception("demo checkout %s: webhook failed", checkout.id)
        return redirect(back, code=303)
    if checkout.status != "created":
        return redirect(back)
    invoices = db.session.scalars(select(Invoice).where(
        Invoice.id.in_(checkout.invoice_ids or [0]),
        Invoice.customer_id == checkout.customer_id).order_by(Invoice.due_date, Invoice.id)).all()
    return render_template("portal/online_demo_checkout.html", checkout=checkout, form=form,
                           invoices=invoices)
