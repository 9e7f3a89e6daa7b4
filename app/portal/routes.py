"""Portal pages. Thin: check input, call auth or a read model, render. Every id is looked up
through the read models with the signed-in customer's id, and an id that is not theirs answers 404.

Ids in URLs are capped at the largest INTEGER the databases hold, so an absurd id is a 404 from
routing instead of an "integer out of range" error from PostgreSQL."""
from __future__ import annotations

import io
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts import bank_transfer, exports, invoice_detail, invoice_list, overview
from app.accounts import statement as account_statement
from app.core import validation as v
from app.core.i18n import SUPPORTED_LANGUAGES, current_language
from app.core.validation import ValidationError
from app.extensions import db
from app.portal import auth, bp
from app.portal.auth import current_customer, login_required
from app.portal.forms import (
    ConfirmLoginForm,
    DeepLinkForm,
    LoginForm,
    LogoutForm,
    csrf_failed,
    csrf_refused,
    refused,
)

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "en": "English"}


@bp.before_request
def _who_is_signed_in() -> None:
    auth.load_session()


# The main menu: (endpoint, label). An area whose pages are not mounted is left out.
NAV = [
    ("portal.dashboard", _l("Overview")),
    ("portal.invoices", _l("Invoices")),
    ("portal.statement", _l("Statement")),
    ("portal.pay_overdue", _l("Pay")),
    ("portal.requests", _l("My requests")),
    ("portal.profile", _l("My details")),
    ("portal.my_data", _l("My data")),
]


@bp.context_processor
def _layout() -> dict[str, Any]:
    return {
        "nav": [(endpoint, label) for endpoint, label in NAV
                if endpoint in current_app.view_functions],
        "customer": current_customer(),
        "logout_form": LogoutForm() if current_customer() else None,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LANGUAGES],
        "language": current_language(),
        "language_url": _language_url,
        "company": _company(),
        "quantity": _quantity,
    }


def _quantity(value: Any) -> str:
    """2, 1,5 or 0.25 as the locale writes it (no trailing zeros)."""
    from decimal import Decimal

    from flask_babel import format_decimal

    return format_decimal(Decimal(value).normalize(), format="#,##0.###")


_COMPANY_CACHE: dict[str, Any] = {"at": -1e9, "value": None}
COMPANY_CACHE_SECONDS = 60


def _company() -> dict[str, Any]:
    """The creditor's name and contacts for the page frame, re-read once a minute per process.

    Only the header and footer use this copy; payment details (IBAN, BIC) are always read fresh.
    """
    from app.core.settings import company_details

    now = time.monotonic()
    if _COMPANY_CACHE["value"] is None or now - _COMPANY_CACHE["at"] > COMPANY_CACHE_SECONDS:
        _COMPANY_CACHE.update(at=now, value=company_details())
    return _COMPANY_CACHE["value"]


def forget_cached_company() -> None:
    _COMPANY_CACHE["value"] = None


def _language_url(code: str) -> str:
    # Back to the same page, without a ?lang= that would override the new choice.
    args = {k: v for k, v in request.args.items() if k not in ("lang", "_l_")}
    here = url_for(request.endpoint, **(request.view_args or {}), **args) \
        if request.endpoint else url_for("portal.dashboard")
    return url_for("portal.set_language", code=code, next=here)


# --- signing in and out -----------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_customer() is not None and request.method == "GET":
        return redirect(auth.safe_target(request.args.get("next")) or url_for("portal.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = auth.safe_target(request.args.get("next")) or ""
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            if csrf_failed(form):
                return csrf_refused()
            status = 400
        elif not auth.allow_login_attempt(request.remote_addr, form.email.data):
            return render_template("portal/login.html", form=form, too_many=True), 429
        else:
            try:
                auth.request_login_link(form.email.data, form.next.data, current_language())
            except Exception:
                db.session.rollback()
                log.exception("could not queue a portal sign-in link")
            return redirect(url_for("portal.login_sent"))
    return render_template("portal/login.html", form=form,
                           expired=request.args.get("expired") == "1",
                           signed_out=request.args.get("signed_out") == "1"), status


@bp.route("/login/sent")
def login_sent():
    return render_template("portal/login_sent.html", minutes=auth.MAGIC_LINK_MINUTES)


@bp.route("/login/<token>", methods=["GET", "POST"])
def confirm_login(token: str):
    form = ConfirmLoginForm()
    access = auth.find_magic_link(token)
    if access is None:
        return render_template("portal/link_invalid.html"), 410
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        access = auth.spend_magic_link(token)
        if access is None:
            return render_template("portal/link_invalid.html"), 410
        if current_customer() is not None:
            auth.end_session()
        auth.start_session(access)
        db.session.commit()
        return redirect(access.target or url_for("portal.dashboard"))
    return render_template("portal/confirm_login.html", form=form,
                           customer_name=access.customer.name)


@bp.route("/go/<token>", methods=["GET", "POST"])
def deep_link(token: str):
    """A link from a message: open its page, after signing in with a fresh magic link."""
    access = auth.find_deep_link(token)
    if access is None:
        return render_template("portal/link_invalid.html", deep=True), 410
    customer = current_customer()
    if customer is not None and customer.id == access.customer_id:
        return redirect(access.target or url_for("portal.dashboard"))
    contact = None
    if access.contact_id:
        from app.customers.models import Contact

        contact = db.session.get(Contact, access.contact_id)
    email = auth.login_email(access.customer, contact)
    form = DeepLinkForm()
    if request.method == "POST" and email:
        if not form.validate_on_submit():
            return csrf_refused()
        if not auth.allow_login_attempt(request.remote_addr, email):
            return render_template("portal/deep_link.html", form=form, masked=_mask(email),
                                   too_many=True, target=access.target), 429
        try:
            auth.request_deep_link_login(access.id, current_language())
        except Exception:
            db.session.rollback()
            log.exception("could not queue a portal sign-in link for a deep link")
        return redirect(url_for("portal.login_sent"))
    return render_template("portal/deep_link.html", form=form,
                           masked=_mask(email) if email else None, target=access.target)


def _mask(email: str) -> str:
    """j•••@example.com: enough to recognise one's address, not to learn someone else's."""
    local, _sep, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


@bp.route("/logout", methods=["POST"])
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return csrf_refused()
    auth.end_session()
    return redirect(url_for("portal.login", signed_out="1"))


@bp.route("/language/<code>")
def set_language(code: str):
    if code in SUPPORTED_LANGUAGES:
        session["locale"] = code
    return redirect(_local_portal_path(request.args.get("next")) or url_for("portal.dashboard"))


def _local_portal_path(target: str | None) -> str | None:
    """A portal path on this site, or None: no other host (open redirect), and only printable
    ASCII (url_for's own links are), so no line break can reach the Location header."""
    if not target or len(target) > 2000 or any(not 32 < ord(c) < 127 for c in target) \
            or "\\" in target:
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. "//[x": not a URL at all
        return None
    if parts.scheme or parts.netloc or not parts.path.startswith("/portal/") \
            or "//" in parts.path:
        return None
    return target


# --- what the customer sees -------------------------------------------------------------------

@bp.route("/")
@login_required
def dashboard():
    customer = current_customer()
    return render_template("portal/dashboard.html", board=overview.dashboard(customer),
                           request_label=overview.request_label)


@bp.route("/invoices")
@login_required
def invoices():
    filters, errors = invoice_list.parse_filters(request.args)
    page = invoice_list.invoice_page(current_customer().id, filters)
    return render_template("portal/invoices.html", page=page, errors=errors,
                           tabs=invoice_list.INVOICE_FILTERS)


def _page_args(**changes: Any) -> dict[str, Any]:
    args = {k: v for k, v in request.args.items() if k in ("status", "q", "from", "to", "page")}
    args.update(changes)
    return {k: v for k, v in args.items() if v not in (None, "")}


@bp.app_template_global("portal_page_url")
def portal_page_url(**changes: Any) -> str:
    return url_for(request.endpoint, **(request.view_args or {}), **_page_args(**changes))


@bp.route("/invoices/<int(max=2147483647):invoice_id>")
@login_required
def invoice(invoice_id: int):
    detail = invoice_detail.invoice_detail(current_customer().id, invoice_id)
    if detail is None:
        abort(404)
    return render_template("portal/invoice.html", detail=detail, state=detail.state,
                           invoice=detail.state.invoice)


@bp.route("/invoices/<int(max=2147483647):invoice_id>/pdf")
@login_required
def invoice_pdf(invoice_id: int):
    found = invoice_detail.get_invoice(current_customer().id, invoice_id)
    if found is None:
        abort(404)
    from app.invoices.pdf import invoice_pdf_bytes

    try:
        data = invoice_pdf_bytes(found)
    except ValidationError:
        log.exception("invoice %s: PDF could not be made", found.id)
        return refused(_("This PDF cannot be made right now. Please try again later."), 503)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=f"{found.number}.pdf")


@bp.route("/invoices/<int(max=2147483647):invoice_id>/pay")
@login_required
def pay_invoice(invoice_id: int):
    found = bank_transfer.pay_invoice(current_customer().id, invoice_id)
    if found is None:
        abort(404)
    state, transfer = found
    return render_template("portal/pay.html", state=state, transfer=transfer, overdue=False)


@bp.route("/pay")
@login_required
def pay_overdue():
    transfer = bank_transfer.pay_overdue(current_customer().id)
    return render_template("portal/pay.html", state=None, transfer=transfer, overdue=True)


def _period() -> tuple[Any, Any, dict[str, list[str]]]:
    errors = v.Errors()
    start = v.a_date(request.args, "from", errors)
    end = v.a_date(request.args, "to", errors)
    if start and end and end < start:
        errors.add("to", _("The end date cannot be before the start date."))
        end = None
    return start, end, errors.errors


@bp.route("/statement")
@login_required
def statement():
    start, end, errors = _period()
    found = account_statement.statement(current_customer(), start, end)
    return render_template("portal/statement.html", statement=found, errors=errors,
                           kind_label=exports.kind_label)


@bp.route("/statement.pdf")
@login_required
def statement_pdf():
    start, end, _errors = _period()
    found = account_statement.statement(current_customer(), start, end)
    return send_file(io.BytesIO(exports.statement_pdf(found)), mimetype="application/pdf",
                     as_attachment=True, download_name=_statement_name(found, "pdf"))


@bp.route("/statement.csv")
@login_required
def statement_csv():
    start, end, _errors = _period()
    found = account_statement.statement(current_customer(), start, end)
    return send_file(io.BytesIO(exports.statement_csv(found)), mimetype="text/csv",
                     as_attachment=True, download_name=_statement_name(found, "csv"))


def _statement_name(found: account_statement.Statement, extension: str) -> str:
    return f"statement-{found.customer.number}-{found.date_to.isoformat()}.{extension}"


# --- errors inside the portal -----------------------------------------------------------------

@bp.errorhandler(404)
def _not_found(_error):
    return refused(_("This page does not exist, or it is not part of your account."), 404)


@bp.errorhandler(405)
def _not_allowed(_error):
    return refused(_("This page cannot be used this way."), 405)


@bp.app_errorhandler(404)
def _unknown_portal_address(error):
    """A mistyped /portal/... address gets the portal's own page (translated, no staff
    screens); anything else keeps the default answer."""
    if not request.path.startswith(bp.url_prefix + "/"):
        return error
    from app.portal import security_headers

    # Routing failed before the blueprint was chosen: its context processor did not run.
    body = render_template("portal/error.html", status=404, message=_(
        "This page does not exist, or it is not part of your account."), **_layout())
    return security_headers(make_response(body, 404))


@bp.app_template_filter("portal_badge_class")
def _badge_class(key: str) -> str:
    return {"paid": "ok", "overdue": "bad", "open": "neutral", "warn": "warn",
            "info": "info"}.get(key, "neutral")

