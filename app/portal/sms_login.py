"""Sign in with a code by SMS: the number, then the code (app.paylinks.sms_signin: the rules).

Whatever number is typed, the next page is the same "we sent a code if we know this number"
page; the code page then signs in, or says the code is not right, the same for a wrong code,
an expired one and a number we do not know.
"""
from __future__ import annotations

import logging

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from app.core.i18n import current_language
from app.extensions import db
from app.paylinks import sms_signin
from app.portal import auth, bp
from app.portal.forms import csrf_refused

log = logging.getLogger(__name__)
NUMBER_KEY = "sms_sign_in_number"
NEXT_KEY = "sms_sign_in_next"
DEFAULT_VERIFY_LIMIT = "20 per hour"


class SmsForm(FlaskForm):
    """Only the CSRF token: the number and code are read and checked by the service."""


@bp.route("/login-sms", methods=["GET", "POST"])
def sms_login():
    form = SmsForm()
    error = None
    status = 200
    if request.method == "GET" and auth.safe_target(request.args.get("next")):
        session[NEXT_KEY] = auth.safe_target(request.args.get("next"))
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        number = sms_signin.normalise_number(request.form.get("phone"))
        if number is None:
            error, status = _("Not a valid phone number. Write it with the country code, "
                              "e.g. +32 470 12 34 56."), 400
        elif not auth.allow_login_attempt(request.remote_addr, "sms:" + number):
            return render_template("portal/sms_login.html", form=form, too_many=True), 429
        else:
            session[NUMBER_KEY] = number
            try:
                auth._enqueue_or_run("app.paylinks.sms_signin.send_code", sms_signin.send_code,
                                     (number, request.remote_addr, current_language()))
            except Exception:
                db.session.rollback()
                log.exception("could not queue an SMS sign-in code")
            return redirect(url_for("portal.sms_code"))
    return render_template("portal/sms_login.html", form=form, error=error), status


@bp.route("/login-sms/code", methods=["GET", "POST"])
def sms_code():
    number = session.get(NUMBER_KEY)
    if not number:
        return redirect(url_for("portal.sms_login"))
    form = SmsForm()
    error = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        if not _allow_verify(request.remote_addr, number):
            return render_template("portal/sms_code.html", form=form, too_many=True,
                                   masked=_mask(number)), 429
        customer = sms_signin.check_code(number, request.form.get("code"))
        if customer is None:
            _audit_failure(number)
            error, status = _("This code is not right or has expired. Check the SMS, or ask "
                              "for a new code."), 400
        else:
            session.pop(NUMBER_KEY, None)
            if auth.current_customer() is not None:
                auth.end_session()
            auth.start_session(_Access(customer.id))
            db.session.commit()
            return redirect(session.pop(NEXT_KEY, None) or url_for("portal.dashboard"))
    return render_template("portal/sms_code.html", form=form, error=error,
                           masked=_mask(number)), status


class _Access:
    """What start_session needs from the proof of identity: whose session it opens."""

    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id
        self.contact_id = None


def _mask(number: str) -> str:
    """+32 ••• •• 34 56: enough to recognise one's own number."""
    return f"{number[:3]} ••• •• {number[-4:-2]} {number[-2:]}"


def _allow_verify(ip: str | None, number: str) -> bool:
    if not auth.setting("PORTAL_RATELIMIT_ENABLED"):
        return True
    from limits import parse as parse_limit

    limit = parse_limit(current_app.config.get("PORTAL_SMS_VERIFY_LIMIT_PER_IP")
                        or DEFAULT_VERIFY_LIMIT)
    try:
        return auth._limiter().hit(limit, "portal-sms-verify-ip", ip or "unknown")
    except Exception:  # noqa: BLE001  (the shared store is down: count in this process)
        return auth._fallback_limiter().hit(limit, "portal-sms-verify-ip", ip or "unknown")


def _audit_failure(number: str) -> None:
    from app.core.audit import record

    try:
        record("refused", "sms_sign_in", None, detail="wrong or expired SMS sign-in code for "
               + _mask(number))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("SMS sign-in refusal not audited")
