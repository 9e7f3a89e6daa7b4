"""The welcome check in the portal: after signing in, a customer who never confirmed their
details is asked to check them once (Customer.verified_at; app/customers/welcome.py).

The page comes between the sign-in and the page the customer wanted (the redirect of the
sign-in is pointed here, with the original target kept in ``next``); "Later" goes on without
confirming, and the page comes back at the next sign-in until the details are confirmed.
Staff can turn it off (setting ``portal.welcome_check``); the test configuration leaves it off
unless PORTAL_WELCOME_CHECK is set, so that other tests sign in straight to their page.
"""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select

from app.core.portal_access import PortalAccess, hash_token, safe_target
from app.core.settings import get_setting
from app.customers.models import Address, BankAccount, Customer
from app.customers.welcome import checklist, confirm_details
from app.extensions import db
from app.portal import bp
from app.portal.auth import SESSION_KEY, current_customer, login_required
from app.portal.forms import csrf_refused


class WelcomeForm(FlaskForm):
    """CSRF only; the button pressed says what to do."""


def enabled() -> bool:
    configured = current_app.config.get("PORTAL_WELCOME_CHECK")
    if configured is None:
        configured = not current_app.testing
    return bool(configured) and bool(get_setting("portal.welcome_check"))


@bp.after_request
def _welcome_after_sign_in(response):
    """Point the redirect after a successful sign-in to the welcome page, while unverified."""
    if (request.endpoint != "portal.confirm_login" or request.method != "POST"
            or response.status_code != 302 or not session.get(SESSION_KEY) or not enabled()):
        return response
    verified = db.session.execute(
        select(Customer.verified_at).join(PortalAccess, PortalAccess.customer_id == Customer.id)
        .where(PortalAccess.token_hash == hash_token(session[SESSION_KEY]),
               PortalAccess.kind == "session")).first()
    if verified is None or verified[0] is not None:
        return response
    target = safe_target(response.location) if response.location else None
    response.location = url_for("portal.welcome", **({"next": target} if target else {}))
    return response


@bp.route("/welcome", methods=["GET", "POST"])
@login_required
def welcome():
    customer = current_customer()
    target = safe_target(request.values.get("next")) or url_for("portal.dashboard")
    form = WelcomeForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        if request.form.get("action") == "confirm":
            confirm_details(customer)
            db.session.commit()
            return redirect(target)
        if request.form.get("action") == "change" and "portal.profile" in current_app.view_functions:
            return redirect(url_for("portal.profile"))
        return redirect(target)
    if customer.verified_at is not None:
        return redirect(target)
    addresses = list(db.session.scalars(select(Address).where(Address.customer_id == customer.id)))
    accounts = list(db.session.scalars(select(BankAccount).where(
        BankAccount.customer_id == customer.id, BankAccount.status != "retired")))
    return render_template("portal/welcome.html", form=form, target=target,
                           addresses=addresses, accounts=[_mask(a.iban) for a in accounts],
                           items=checklist(customer),
                           can_change="portal.profile" in current_app.view_functions)


def _mask(iban: str | None) -> str:
    iban = (iban or "").replace(" ", "")
    return f"{iban[:4]} •••• {iban[-4:]}" if len(iban) > 8 else iban
