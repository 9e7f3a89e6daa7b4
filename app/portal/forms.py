"""Portal forms. Every one is a FlaskForm, so every POST carries and checks a CSRF token.

CSRFProtect checks every POST app-wide before a route runs (app/core/web_security.py) and
answers a missing or wrong token with ``csrf_refused()`` below; the routes' own check stays as
a second line, and treats a failed CSRF check as a refused request (400), never as "invalid
input, try again".
"""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
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


def refused(message: str, status: int):
    """The portal's page for a request it will not carry out, with its HTTP status."""
    return render_template("portal/error.html", message=message, status=status), status


def csrf_refused():
    """A form posted without a valid CSRF token: refused, nothing changed (400)."""
    return refused(_("This form has expired or did not come from this site. Reload the page "
                     "and try again."), 400)


def csrf_failed(form: FlaskForm) -> bool:
    """True when the form was posted without a valid CSRF token."""
    return bool(getattr(form, "csrf_token", None) is not None and form.csrf_token.errors)


def show_errors(form: FlaskForm, exc) -> list[str]:
    """Put each message of a refused ``ValidationError`` on its field; the messages of no field
    on the form are returned, to show above it."""
    general = []
    for name, messages in exc.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors") and name != "submit":
            field.errors = list(messages)
        else:
            general.extend(messages)
    return general


def submit_form(form: FlaskForm, save):
    """The POST half the portal's form pages share -> (response or None, general errors, status).

    A GET: (None, [], 200). A failed CSRF check: the refusal page. Invalid input, or a rule the
    service refuses (``ValidationError``): the form again with its messages (400), nothing
    saved. Otherwise ``save()`` runs, the session is committed and its redirect returned.
    """
    from app.core.validation import ValidationError
    from app.extensions import db

    if request.method != "POST":
        return None, [], 200
    if not form.validate_on_submit():
        return (csrf_refused() if csrf_failed(form) else None), [], 400
    try:
        response = save()
        db.session.commit()
        return response, [], 302
    except ValidationError as exc:
        db.session.rollback()
        return None, show_errors(form, exc), 400
