"""Forms of the account area (my details, refund account, direct debit, preferences).

They only carry the values and the CSRF token: the rules (and their translated messages) are
the customers domain's (app/selfservice/profile.py, bank_accounts.py, mandates.py,
preferences.py), so the portal and the back office refuse the same things.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import Optional

from app.customers.models import COUNTRIES, DELIVERY_CHANNELS, LANGUAGES


def _text(label, **render_kw) -> StringField:
    return StringField(label, validators=[Optional()], render_kw=render_kw or None)


class DetailsForm(FlaskForm):
    name = _text(_l("Name"), autocomplete="organization")
    vat_number = _text(_l("VAT number"))
    email = _text(_l("E-mail address"), autocomplete="email", inputmode="email")
    phone = _text(_l("Phone"), autocomplete="tel", inputmode="tel")
    language = SelectField(_l("Language"), choices=list(LANGUAGES.items()))
    address_line1 = _text(_l("Street and number"), autocomplete="address-line1")
    address_line2 = _text(_l("Address line 2"), autocomplete="address-line2")
    postal_code = _text(_l("Postal code"), autocomplete="postal-code")
    city = _text(_l("City"), autocomplete="address-level2")
    country = SelectField(_l("Country"), choices=list(COUNTRIES.items()))
    billing_name = _text(_l("Name"), autocomplete="name")
    billing_email = _text(_l("E-mail address"), inputmode="email")
    billing_phone = _text(_l("Phone"), inputmode="tel")
    reminder_name = _text(_l("Name"))
    reminder_email = _text(_l("E-mail address"), inputmode="email")
    reminder_phone = _text(_l("Phone"), inputmode="tel")
    submit = SubmitField(_l("Save my details"))


class ConfirmEmailForm(FlaskForm):
    submit = SubmitField(_l("Confirm this e-mail address"))


class BankAccountForm(FlaskForm):
    iban = _text(_l("IBAN"), autocomplete="off", spellcheck="false")
    bic = _text(_l("BIC (optional)"), autocomplete="off", spellcheck="false")
    holder = _text(_l("Account holder"))
    submit = SubmitField(_l("Save this account for refunds"))


class MandateForm(FlaskForm):
    iban = _text(_l("IBAN"), autocomplete="off", spellcheck="false")
    bic = _text(_l("BIC (optional)"), autocomplete="off", spellcheck="false")
    signature_name = _text(_l("Your full name (this is your signature)"), autocomplete="name")
    consent = BooleanField(_l("I have read the mandate above and I sign it electronically."))
    submit = SubmitField(_l("Sign the mandate"))


class RevokeMandateForm(FlaskForm):
    submit = SubmitField(_l("Stop direct debit"))


class PreferencesForm(FlaskForm):
    delivery_channel = RadioField(_l("How do you want to receive invoices and reminders?"),
                                  choices=list(DELIVERY_CHANNELS.items()))
    language = SelectField(_l("Language"), choices=list(LANGUAGES.items()))
    sms_reminders = BooleanField(_l("Also send me reminders by SMS"))
    phone = _text(_l("Mobile number for SMS"), autocomplete="tel", inputmode="tel")
    # Checked by app.selfservice.preferences (1-28 or none), not by WTForms: one rule, one message.
    preferred_payment_day = SelectField(
        _l("Preferred payment day"), validate_choice=False,
        choices=[("", _l("No preference"))] + [(str(d), str(d)) for d in range(1, 29)])
    submit = SubmitField(_l("Save my preferences"))


class SmsCodeForm(FlaskForm):
    code = _text(_l("Code received by SMS"), autocomplete="one-time-code", inputmode="numeric",
                 maxlength="6")
    submit = SubmitField(_l("Confirm"))


class ResendCodeForm(FlaskForm):
    submit = SubmitField(_l("Send a new code"))
