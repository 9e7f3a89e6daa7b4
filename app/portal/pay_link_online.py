"""Paying a pay link online: start the checkout, go to the provider, "Thank you, paid".

The checkout is the portal's own (app.payments.online.checkouts.start_checkout) for exactly
the amounts the pay link's page shows, with the payment method the customer tapped. The
provider sends the customer back to ``/portal/pay-link/paid/<checkout id>``, which asks the
provider for the truth (as the portal's return page does) and says what is left to pay. Only
checkouts this link started can be looked at from it.
"""
from __future__ import annotations

import logging

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from app.core.i18n import current_language
from app.core.validation import ValidationError
from app.extensions import db
from app.paylinks import scope
from app.paylinks import services as paylinks
from app.paylinks.online import offered_methods
from app.payments.online import checkouts
from app.portal import auth, bp
from app.portal.forms import csrf_refused
from app.portal.pay_link import PayLinkForm, _gone, current_link

log = logging.getLogger(__name__)


@bp.route("/pay-link/online", methods=["POST"])
def pay_link_online():
    link = current_link()
    if link is None:
        return _gone()
    if not PayLinkForm().validate_on_submit():
        return csrf_refused()
    method = request.form.get("method") or ""
    if method not in dict(offered_methods(link.customer)):
        return redirect(url_for("portal.pay_link_page"), code=303)
    found = scope.pay_now(link)
    parts = scope.online_parts(found)
    description = _("Invoices %(numbers)s", numbers=", ".join(i.number for i, _a in parts))
    if len(description) > 200:
        description = ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", len(parts))
    base = auth.base_url()
    try:
        checkout = checkouts.start_checkout(
            link.customer, parts, description=description, language=current_language(),
            method=method,
            return_url_for=lambda checkout_id: base + url_for("portal.pay_link_paid",
                                                              checkout_id=checkout_id),
            webhook_url_for=lambda name: base + url_for("portal.online_webhook", provider=name))
        paylinks.record_use(link, "checkout", checkout.id, method)
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        messages = [m for field in error.errors.values() for m in field]
        return render_template("portal/online_unavailable.html", messages=messages,
                               back=url_for("portal.pay_link_page")), \
            409 if "amount" in error.errors else 503
    if checkout.checkout_url.startswith("/"):
        return redirect(checkout.checkout_url, code=303)  # a page of ours (demo provider)
    return redirect(url_for("portal.pay_link_go", checkout_id=checkout.id), code=303)


def link_checkout(checkout_id: int):
    """The checkout, if the pay link open in this browser started it; else None."""
    link = current_link()
    if link is None or not paylinks.made_by_link(link, "checkout", checkout_id):
        return None
    return checkouts.customer_checkout(link.customer_id, checkout_id)


@bp.route("/pay-link/payments/<int(max=2147483647):checkout_id>/go")
def pay_link_go(checkout_id: int):
    """On to the provider's page by a plain navigation (see online_payment.online_go)."""
    checkout = link_checkout(checkout_id)
    if checkout is None:
        abort(404)
    if checkout.status != "created" or not checkout.checkout_url:
        return redirect(url_for("portal.pay_link_paid", checkout_id=checkout.id))
    response = make_response(render_template("portal/online_go.html", checkout=checkout))
    response.headers["Refresh"] = f"0; url={checkout.checkout_url}"
    return response


@bp.route("/pay-link/paid/<int(max=2147483647):checkout_id>")
def pay_link_paid(checkout_id: int):
    """"Thank you, paid" (or not yet, or not), and what is left to pay."""
    link = current_link()
    checkout = link_checkout(checkout_id) if link is not None else None
    if checkout is None:
        abort(404)
    unreachable = False
    if checkout.status == "created":
        try:
            checkouts.refresh(checkout)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.warning("checkout %s: status not fetched", checkout_id, exc_info=True)
            unreachable = True
        checkout = link_checkout(checkout_id)
    if checkout.status == "paid" and not paylinks.made_by_link(link, "paid_online", checkout.id):
        paylinks.record_use(link, "paid_online", checkout.id, f"{checkout.amount}")
        db.session.commit()
    return render_template("portal/pay_link/paid.html", checkout=checkout,
                           found=scope.pay_now(link), unreachable=unreachable)
