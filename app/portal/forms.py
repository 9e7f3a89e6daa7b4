"""Portal forms. Every one is a FlaskForm, so every POST carries and checks a CSRF token.

CSRFProtect is not enabled app-wide (FAB checks CSRF per form), so the portal's routes treat a
failed CSRF check as a refused request (400), never as "invalid input, try again".
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from app.portal.auth import EMAIL


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[
        DataRequired(message=_l("Enter your e-mail address.")),
        Length(max=200, message=_l("At most %(max)d characters.")),
        Regexp(EMAIL, message=_l("This is not a valid e-mail address."))],
        render_kw={"autocomplete": "email", "inputmode": "email"})
    next = HiddenField()
    submit = SubmitField(_l("Send me a sign-in link"))


class ConfirmLoginForm(FlaskForm):
    submit = SubmitField(_l("Continue to my account"))


class DeepLinkForm(FlaskForm):
    submit = SubmitField(_l("E-mail me a sign-in link"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Log out"))


def csrf_failed(form: FlaskForm) -> bool:
    """True when the form was posted without a valid CSRF token."""
    return bool(getattr(form, "csrf_token", None) is not None and form.csrf_token.errors)
