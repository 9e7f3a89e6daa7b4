"""The page a pay link opens: pay, ask for more time, or pay in instalments - nothing else.

``/portal/p/<token>`` is the address in the message. It checks the token, records "opened"
on the customer's timeline, keeps the link's id in the session and redirects (303) to
``/portal/pay-link``, so the token leaves the address bar and the browser history at once and
never travels as a Referer. That first answer carries ``Referrer-Policy: no-referrer`` and
``Cache-Control: no-store``. The pages after it have no token in their address; they keep
the portal's same-origin policy, which the CSRF check of their forms needs on HTTPS (a form
posted without a Referer is refused there).

Every page re-checks the link (revoked or expired since: the sign-in offer) and reads only the
link's invoices through app.paylinks.scope. The actions call the same services as the portal's
own pages (app.requests.deferrals / plans, app.payments.online.checkouts): when the rules say a
person must decide, the request is created and the page says so. Nothing else can be changed:
no contact data, bank accounts or mandates, and every other portal page still asks for sign-in.

Tokens that do not open a link are counted per IP address (``PAYLINK_FAILURES_PER_IP``,
default "10 per 10 minutes"): past the limit every token from that address is refused (even a
right one) and each refusal is on the audit trail.
"""
from __future__ import annotations

import logging

from flask import (
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm

from app.core.settings import get_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.paylinks import scope
from app.paylinks import services as paylinks
from app.paylinks.models import PayLink
from app.portal import auth, bp
from app.portal.forms import csrf_refused
from app.requests import deferrals, plans
from app.requests import self_service as ss

log = logging.getLogger(__name__)

SESSION_KEY = "pay_link"
DEFAULT_FAILURES_PER_IP = "10 per 10 minutes"


class PayLinkForm(FlaskForm):
    """Only the CSRF token: the services check the fields."""


# --- opening the link ---------------------------------------------------------------------------

def _private(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/p/<token>")
def pay_link_open(token: str):
    if not _allowed(request.remote_addr):
        _audit("blocked", None, "too many pay link tokens that did not work from this address")
        return _invalid_page(429, too_many=True)
    found = paylinks.resolve(token)
    if not found.ok:
        _count_failure(request.remote_addr)
        _audit("refused", None, f"pay link token refused ({found.state})")
        return _invalid_page(410)
    link = found.link
    if session.get(SESSION_KEY) != link.id:
        paylinks.record_use(link, "opened")
    session[SESSION_KEY] = link.id
    db.session.commit()
    return _private(redirect(url_for("portal.pay_link_page"), code=303))


def _limit() -> str:
    return current_app.config.get("PAYLINK_FAILURES_PER_IP") or DEFAULT_FAILURES_PER_IP


def _allowed(ip: str | None) -> bool:
    if not auth.setting("PORTAL_RATELIMIT_ENABLED"):
        return True
    from limits import parse as parse_limit

    try:
        return auth._limiter().test(parse_limit(_limit()), "pay-link-failures", ip or "unknown")
    except Exception:
        log.warning("rate limiter store unavailable; counting in this process", exc_info=True)
        return auth._fallback_limiter().test(parse_limit(_limit()), "pay-link-failures",
                                             ip or "unknown")


def _count_failure(ip: str | None) -> None:
    if not auth.setting("PORTAL_RATELIMIT_ENABLED"):
        return
    from limits import parse as parse_limit

    try:
        auth._limiter().hit(parse_limit(_limit()), "pay-link-failures", ip or "unknown")
    except Exception:  # noqa: BLE001  (the shared store is down: count in this process)
        auth._fallback_limiter().hit(parse_limit(_limit()), "pay-link-failures", ip or "unknown")


def _audit(action: str, customer_id: int | None, detail: str) -> None:
    """On the audit trail, in a transaction of its own (never the token itself)."""
    from app.core.audit import record

    try:
        record(action, "pay_link", None, customer_id=customer_id, detail=detail)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("pay link refusal not audited")


# --- the page ------------------------------------------------------------------------------------

def current_link() -> PayLink | None:
    """The link this browser opened, if it still works (checked on every page)."""
    link = paylinks.usable_link(session.get(SESSION_KEY))
    if link is None:
        session.pop(SESSION_KEY, None)
    else:
        g.customer_language = link.customer.language
        import flask_babel

        flask_babel.refresh()
    return link


def _invalid_page(status: int, too_many: bool = False):
    """The same page for every token that does not work (nothing tells them apart): sign in
    instead."""
    body = render_template("portal/pay_link/invalid.html", too_many=too_many,
                           sms_sign_in="portal.sms_login" in current_app.view_functions)
    return _private(make_response(body, status))


def _gone():
    return _invalid_page(410)


@bp.route("/pay-link")
def pay_link_page():
    link = current_link()
    if link is None:
        return _gone()
    found = scope.pay_now(link)
    return render_template("portal/pay_link/page.html", found=found, form=PayLinkForm(),
                           methods=_methods(link), link=link)


def _methods(link: PayLink) -> list[tuple[str, str]]:
    """The online payment methods offered to this customer (empty: no online payment)."""
    try:
        from app.paylinks.online import offered_methods
    except ImportError:
        return []
    return offered_methods(link.customer)


@bp.route("/pay-link/account")
def pay_link_account():
    """"See my whole account": the portal, after signing in as always."""
    link = current_link()
    customer = auth.current_customer()
    if link is not None and customer is not None and customer.id == link.customer_id:
        return redirect(url_for("portal.dashboard"))
    return redirect(url_for("portal.login", next="/portal/"))


# --- I need more time ----------------------------------------------------------------------------

@bp.route("/pay-link/more-time", methods=["GET", "POST"])
def pay_link_more_time():
    link = current_link()
    if link is None:
        return _gone()
    found = scope.pay_now(link)
    if not found.eligible:
        return redirect(url_for("portal.pay_link_page"))
    form = PayLinkForm()
    errors: dict[str, list[str]] = {}
    # A date is proposed (within the rules where possible): one tap sends it, or it is changed.
    new_due = deferrals.proposed_date([s.invoice for s in found.eligible]).isoformat()
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        new_due = (request.form.get("new_due_date") or "").strip()[:20]
        try:
            outcome = deferrals.request_deferral(link.customer, found.invoice_ids(), new_due)
        except ValidationError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            paylinks.record_use(link, "deferral", outcome.request.id)
            db.session.commit()
            return redirect(url_for("portal.pay_link_request", request_id=outcome.request.id))
    return render_template("portal/pay_link/more_time.html", found=found, form=form,
                           errors=errors, new_due=new_due,
                           max_days=get_setting(ss.DEFERRAL_MAX_DAYS)), 400 if errors else 200


# --- pay in instalments --------------------------------------------------------------------------

@bp.route("/pay-link/plan", methods=["GET", "POST"])
def pay_link_plan():
    """The plan the rules propose (their number of instalments, the customer's payment day),
    ready to confirm in one tap; the number and the day can still be changed below it. The
    same services as the portal's plan wizard decide (app.requests.plans)."""
    link = current_link()
    if link is None:
        return _gone()
    found = scope.pay_now(link)
    if not found.eligible:
        return redirect(url_for("portal.pay_link_page"))
    from app.selfservice.preferences import plan_day_for

    form = PayLinkForm()
    errors: dict[str, list[str]] = {}
    values = {"installment_count": None, "day_of_month": str(plan_day_for(link.customer))}
    preview = None
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        values = {"installment_count": (request.form.get("installment_count") or "")[:3],
                  "day_of_month": (request.form.get("day_of_month") or "")[:2]}
    try:
        if request.method == "POST" and request.form.get("action") == "confirm":
            outcome = plans.request_plan(link.customer, found.invoice_ids(),
                                         values["installment_count"], values["day_of_month"])
            paylinks.record_use(link, "plan", outcome.request.id)
            db.session.commit()
            return redirect(url_for("portal.pay_link_request", request_id=outcome.request.id))
        preview = plans.preview_plan(link.customer, found.invoice_ids(),
                                     values["installment_count"], values["day_of_month"])
        values["installment_count"] = str(preview.installment_count)
    except ValidationError as exc:
        db.session.rollback()
        errors = exc.errors
        if values["installment_count"] is None:
            values["installment_count"] = "3"
    failed = bool(errors) and request.method == "POST"
    return render_template("portal/pay_link/plan.html", found=found, form=form, errors=errors,
                           values=values, preview=preview,
                           max_installments=get_setting(ss.PLAN_MAX_INSTALLMENTS),
                           days=range(1, plans.MAX_DAY_OF_MONTH + 1)), 400 if failed else 200


@bp.route("/pay-link/requests/<int(max=2147483647):request_id>")
def pay_link_request(request_id: int):
    """What became of the request this link made (approved, or with our team and why)."""
    link = current_link()
    if link is None:
        abort(404)  # an id without the link that made it: as any record that is not yours
    from app.requests.models import CustomerRequest, PaymentPlan

    req = db.session.get(CustomerRequest, request_id)
    if req is None or req.customer_id != link.customer_id or not (
            paylinks.made_by_link(link, "deferral", request_id)
            or paylinks.made_by_link(link, "plan", request_id)):
        abort(404)
    plan = db.session.scalar(db.select(PaymentPlan).where(PaymentPlan.request_id == req.id))
    rules = [line for line in (req.referral_reason or "").splitlines() if line.strip()]
    return render_template("portal/pay_link/request.html", req=req, plan=plan, rules=rules,
                           found=scope.pay_now(link))
