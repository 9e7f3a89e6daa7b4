"""My details, refund bank account, SEPA direct-debit mandate, preferences.

Thin: the rules live in app/selfservice (profile, bank_accounts, mandates, preferences, over
app/customers' rows), shared with the back office. No route takes a record id: each page works
on the signed-in customer's own rows, so there is nothing of another customer to name. A
refused input shows the translated messages next to the fields, answers 400 and changes
nothing.
"""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import format_datetime

from app.core.i18n import current_language
from app.core.validation import ValidationError
from app.customers import bank_accounts
from app.extensions import db
from app.portal import bp
from app.portal.account_forms import (
    BankAccountForm,
    ConfirmEmailForm,
    DetailsForm,
    MandateForm,
    PreferencesForm,
    ResendCodeForm,
    RevokeMandateForm,
    SmsCodeForm,
)
from app.portal.auth import current_customer, login_required
from app.portal.forms import csrf_refused, show_errors, submit_form
from app.selfservice import mandates, preferences, profile
from app.selfservice.bank_accounts import set_refund_account


def _when(value) -> str:
    return format_datetime(value, "medium") if value else ""


def masked_iban(iban: str | None) -> str:
    iban = iban or ""
    return f"{iban[:4]} •••• •••• {iban[-4:]}" if len(iban) > 8 else iban


# --- my details ------------------------------------------------------------------------------

@bp.route("/profile", methods=["GET", "POST"], endpoint="profile")
@login_required
def profile_page():
    customer = current_customer()
    locked = profile.locked_fields(customer)
    form = DetailsForm(data=profile.details_of(customer) if request.method == "GET" else None)

    def save():
        data = {name: form[name].data for name in profile.DETAIL_FIELDS
                if name in form and name not in locked}
        result = profile.update_details(customer, data)
        return redirect(url_for("portal.profile", saved="1",
                                confirm=len(result.pending_emails) or None))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    return render_template("portal/profile.html", form=form, locked=locked, general=general,
                           saved=request.args.get("saved") == "1",
                           confirm=request.args.get("confirm"),
                           pending=profile.pending_email_changes(customer),
                           values=profile.details_of(customer)), status


@bp.route("/profile/email/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    """The link mailed to a new address. GET only shows a button (mail scanners prefetch
    links); the POST spends the single-use token. No sign-in needed: the token is the proof."""
    form = ConfirmEmailForm()
    change = profile.find_email_change(token)
    if change is None:
        return render_template("portal/profile_email.html", state="invalid"), 410
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        change = profile.confirm_email_change(token)
        if change is None:
            db.session.rollback()
            return render_template("portal/profile_email.html", state="invalid"), 410
        new_email = change.new_email
        db.session.commit()
        return render_template("portal/profile_email.html", state="done", new_email=new_email)
    return render_template("portal/profile_email.html", state="ask", form=form,
                           new_email=change.new_email)


# --- refund bank account ---------------------------------------------------------------------

@bp.route("/bank-account", methods=["GET", "POST"])
@login_required
def bank_account():
    customer = current_customer()
    form = BankAccountForm()

    def save():
        set_refund_account(customer, form.iban.data, form.bic.data,
                                         form.holder.data)
        return redirect(url_for("portal.bank_account", saved="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    current = bank_accounts.usable_refund_account(customer)
    pending = bank_accounts.pending_refund_account(customer)
    return render_template("portal/bank_account.html", form=form, general=general,
                           current=current, pending=pending, masked=masked_iban, when=_when,
                           hours=bank_accounts.cooloff_hours(),
                           saved=request.args.get("saved") == "1"), status


# --- SEPA direct debit -----------------------------------------------------------------------

@bp.route("/direct-debit", methods=["GET", "POST"])
@login_required
def direct_debit():
    customer = current_customer()
    form = MandateForm()

    def save():
        mandates.sign_mandate(customer, iban=form.iban.data, bic=form.bic.data,
                              signature_name=form.signature_name.data,
                              consent=bool(form.consent.data), ip=request.remote_addr,
                              user_agent=request.user_agent.string,
                              language=current_language())
        return redirect(url_for("portal.direct_debit", signed="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    return _mandate_page(customer, form, general, status)


def _mandate_page(customer, form, general: list[str], status: int):
    mandate = mandates.current_mandate(customer)
    return render_template(
        "portal/mandate.html", form=form, general=general, mandate=mandate,
        revoke_form=RevokeMandateForm(), masked=masked_iban, when=_when,
        text=mandates.mandate_text(customer, current_language()),
        signed=request.args.get("signed") == "1",
        revoked=request.args.get("revoked") == "1"), status


@bp.route("/direct-debit/revoke", methods=["POST"])
@login_required
def revoke_direct_debit():
    customer = current_customer()
    form = RevokeMandateForm()
    if not form.validate_on_submit():
        return csrf_refused()
    try:
        mandates.revoke_mandate(customer)
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        return _mandate_page(customer, MandateForm(formdata=None), show_errors(form, exc), 400)
    return redirect(url_for("portal.direct_debit", revoked="1"))


# --- preferences -----------------------------------------------------------------------------

@bp.route("/preferences", methods=["GET", "POST"], endpoint="preferences")
@login_required
def preferences_page():
    customer = current_customer()
    initial: dict[str, Any] = {"delivery_channel": customer.delivery_channel,
                               "language": customer.language,
                               "sms_reminders": customer.sms_reminders,
                               "phone": customer.phone or "",
                               "preferred_payment_day": str(customer.preferred_payment_day or "")}
    form = PreferencesForm(data=initial if request.method == "GET" else None)
    day = customer.preferred_payment_day
    if day and str(day) not in dict(form.preferred_payment_day.choices):
        # a 29th-31st set by staff stays choosable, so saving the rest does not change it
        form.preferred_payment_day.choices = [*form.preferred_payment_day.choices,
                                              (str(day), str(day))]

    def save():
        result = preferences.update_preferences(
            customer, delivery_channel=form.delivery_channel.data or None,
            language=form.language.data or None,
            sms_reminders=bool(form.sms_reminders.data), phone=form.phone.data,
            # not posted at all (an older form): left as it is, not cleared
            preferred_payment_day=(form.preferred_payment_day.data
                                   if "preferred_payment_day" in request.form
                                   else preferences.UNCHANGED))
        if result.sms_code_sent is not None:
            return redirect(url_for("portal.preferences_sms_code"))
        return redirect(url_for("portal.preferences", saved="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    return render_template("portal/preferences.html", form=form, general=general,
                           saved=request.args.get("saved") == "1"), status


@bp.route("/preferences/sms-code", methods=["GET", "POST"])
@login_required
def preferences_sms_code():
    customer = current_customer()
    form = SmsCodeForm()

    def save():
        preferences.confirm_sms_code(customer, form.code.data)
        return redirect(url_for("portal.preferences", saved="1", sms="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    pending = preferences.pending_sms_code(customer)  # after a wrong code: attempts left
    return render_template("portal/preferences_code.html", form=form, general=general,
                           pending=pending, resend_form=ResendCodeForm(),
                           masked_phone=_mask_phone(pending.phone if pending else None)), status


@bp.route("/preferences/sms-code/resend", methods=["POST"])
@login_required
def preferences_sms_resend():
    customer = current_customer()
    form = ResendCodeForm()
    if not form.validate_on_submit():
        return csrf_refused()
    last = preferences.pending_sms_code(customer)
    phone = last.phone if last else None
    try:
        if phone is None:
            return redirect(url_for("portal.preferences"))
        preferences.send_sms_code(customer, phone)
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        code_form = SmsCodeForm(formdata=None)
        return render_template("portal/preferences_code.html", form=code_form,
                               general=show_errors(code_form, exc), pending=last,
                               resend_form=form, masked_phone=_mask_phone(phone)), 400
    return redirect(url_for("portal.preferences_sms_code"))


def _mask_phone(phone: str | None) -> str:
    return f"{phone[:3]} ••• ••{phone[-2:]}" if phone and len(phone) > 6 else (phone or "")
