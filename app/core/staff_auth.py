"""Staff sign-in: server-side sessions, the TOTP second step, and the pages around sign-in.

- Every sign-in creates a StaffSession row named by a new random token kept in the (signed,
  client-side) Flask session; the user loader accepts the cookie only while that row is open.
  Logout closes it, a password change closes all of the user's rows, so a copied cookie stops
  working at once (issue 12 item 6). The rest of the pre-login session is dropped at sign-in.
- Users with a confirmed TOTP secret give a code after their password (/login/code); with
  AUTH_TOTP_REQUIRED, Admin and Compliance officer accounts without one are sent to enrol.
- API-only accounts (the ERP integration) see, on every back-office page, what the account is
  for and a logout button: the back office is not theirs to use. A signed-in user refused a page sees why, in their language, instead of "Forbidden".
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time

from flask import (
    Flask,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_appbuilder import BaseView, expose
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView as FabAuthDBView
from flask_appbuilder.security.views import ResetMyPasswordView as FabResetMyPasswordView
from flask_appbuilder.security.views import ResetPasswordView as FabResetPasswordView
from flask_appbuilder.security.views import UserDBModelView as FabUserDBModelView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_user, user_logged_in, user_logged_out
from flask_wtf import FlaskForm
from sqlalchemy import select, update
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from app.core import login_throttle, roles, totp
from app.core.models import utcnow
from app.core.passwords import PasswordRejected, password_problem
from app.core.staff_auth_models import StaffSession, StaffTotp
from app.extensions import db

log = logging.getLogger(__name__)

SESSION_KEY = "_staff_sid"
PENDING_KEY = "_staff_totp_pending"
ENROL_KEY = "_staff_totp_enrol"
PENDING_SECONDS = 300
# last_seen_at is written at most this often: not one UPDATE per page view.
TOUCH_SECONDS = 60
API_ONLY_ROLES = frozenset({roles.ERP_INTEGRATION})
TOTP_ROLES = frozenset({roles.ADMIN, roles.COMPLIANCE_OFFICER})
# Where a user who must enrol a second factor may still go.
ENROL_ENDPOINTS = ("TotpView.", "AuthDBView.", "appbuilder.static", "static", "LocaleView.")


# --- server-side sessions ----------------------------------------------------------------------

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start_session(user) -> None:
    """A new session row for this browser, its token in the cookie (rotated at each sign-in)."""
    token = secrets.token_urlsafe(32)
    db.session.add(StaffSession(user_id=user.id, token_hash=_hash(token),
                                ip=login_throttle.client_ip()))
    db.session.commit()
    session[SESSION_KEY] = token


def session_is_open(user) -> bool:
    """Whether the cookie's session row is still open for this user (user loader)."""
    token = session.get(SESSION_KEY)
    if not token:
        return False
    row = db.session.scalar(select(StaffSession).where(
        StaffSession.token_hash == _hash(token), StaffSession.user_id == user.id))
    if row is None or row.revoked_at is not None:
        return False
    now = utcnow()
    idle = current_app.permanent_session_lifetime
    if now - row.last_seen_at > idle:
        row.revoked_at = now
        db.session.commit()
        return False
    if (now - row.last_seen_at).total_seconds() > TOUCH_SECONDS:
        row.last_seen_at = now
        db.session.commit()
    return True


def revoke_current() -> None:
    token = session.pop(SESSION_KEY, None)
    if token:
        db.session.execute(update(StaffSession).where(
            StaffSession.token_hash == _hash(token), StaffSession.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        db.session.commit()


def revoke_all(user_id: int) -> int:
    """Close every open session of the user (password change, deactivation)."""
    result = db.session.execute(update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    db.session.commit()
    return result.rowcount or 0


def _on_logged_in(_app, user) -> None:
    start_session(user)


def _on_logged_out(_app, user=None) -> None:
    revoke_current()


def sign_in(user) -> None:
    """Sign the user in on a fresh session: nothing from before the sign-in is kept but the
    language (a planted session cannot be carried into the signed-in one)."""
    locale = session.get("locale")
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF's copy of the dropped session's token
    if locale:
        session["locale"] = locale
    login_user(user, remember=False)  # user_logged_in -> start_session


# --- roles --------------------------------------------------------------------------------------

def role_names(user) -> set[str]:
    return {role.name for role in getattr(user, "roles", None) or []}


def is_api_only(user) -> bool:
    names = role_names(user)
    return bool(names) and names <= API_ONLY_ROLES


# --- TOTP ---------------------------------------------------------------------------------------

def totp_row(user_id: int) -> StaffTotp | None:
    return db.session.get(StaffTotp, user_id)


def totp_enrolled(user) -> bool:
    row = totp_row(user.id)
    return row is not None and row.confirmed_at is not None


def totp_required(user) -> bool:
    return bool(current_app.config.get("AUTH_TOTP_REQUIRED")) and bool(
        role_names(user) & TOTP_ROLES)


def needs_second_factor(user) -> bool:
    return totp_enrolled(user) or totp_required(user)


def accept_code(user_id: int, code: str | None) -> bool:
    """True once per valid code: the accepted step is stored with a conditional UPDATE, so
    the same code (or an older one) replayed, even in parallel, is refused."""
    row = totp_row(user_id)
    if row is None:
        return False
    step = totp.matching_step(row.secret, code, after_step=row.last_step)
    if step is None:
        return False
    result = db.session.execute(update(StaffTotp).where(
        StaffTotp.user_id == user_id,
        (StaffTotp.last_step.is_(None)) | (StaffTotp.last_step < step)).values(last_step=step))
    db.session.commit()
    return result.rowcount == 1


# --- pages ----------------------------------------------------------------------------------------

def _page(template: str, status: int, **context):
    appbuilder = current_app.appbuilder
    body = render_template(template, appbuilder=appbuilder, base_template=appbuilder.base_template,
                           **context)
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def throttled_page(retry_after: int):
    minutes = max(1, -(-retry_after // 60))
    response = _page("security/throttled.html", 429, minutes=minutes,
                     title=_("Too many sign-in attempts"))
    response.headers["Retry-After"] = str(retry_after)
    return response


def api_only_page(user):
    from flask_wtf.csrf import generate_csrf

    return _page("security/api_only.html", 403, account=user.username, csrf=generate_csrf(),
                 title=_("This account is for the ERP integration"))


def forbidden_page(error):
    """403 for a signed-in staff user: what their role may not do, translated."""
    path = request.path
    if path.startswith(("/api/", "/portal")) or not getattr(current_user, "is_authenticated",
                                                             False):
        return error
    names = role_names(current_user)
    view = (request.endpoint or "").split(".")[0]
    upload = bool(re.match(rf"(?:{roles.UPLOAD_VIEWS})$", view))
    read_only = roles.READ_ONLY in names and len(names) == 1
    return _page("security/forbidden.html", 403, upload=upload, read_only=read_only,
                 role_list=", ".join(sorted(names)), title=_("Not allowed for your role"))


def _gate():
    """Signed-in accounts that may not use the back office yet: an API-only account sees what
    it is for (with a logout button) on every page; with AUTH_TOTP_REQUIRED, an Admin or
    Compliance officer without a second factor can only enrol one (or sign out)."""
    endpoint = request.endpoint or ""
    if endpoint.startswith(ENROL_ENDPOINTS) or request.path.startswith(("/api/", "/portal")):
        return None
    if not getattr(current_user, "is_authenticated", False):
        return None
    g.user = current_user  # FAB's own before_request, which sets it, runs after this one
    if is_api_only(current_user):
        return api_only_page(current_user)
    if not current_app.config.get("AUTH_TOTP_REQUIRED"):
        return None
    if totp_required(current_user) and not totp_enrolled(current_user):
        flash(_("Your role needs a second factor: set up an authenticator app to continue."),
              "warning")
        return redirect(url_for("TotpView.setup"))
    return None


# --- forms --------------------------------------------------------------------------------------

class CodeForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app"), validators=[DataRequired()],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                                  "autofocus": True})


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired()])


class ChangeMyPasswordForm(DynamicForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired()], widget=BS3PasswordFieldWidget())
    password = PasswordField(
        _l("New password"), validators=[DataRequired()], widget=BS3PasswordFieldWidget(),
        description=_l("At least 12 characters; common passwords are refused."))
    conf_password = PasswordField(
        _l("Confirm new password"), widget=BS3PasswordFieldWidget(),
        validators=[EqualTo("password", message=_l("Passwords must match"))])

    def validate_current_password(self, field) -> None:
        try:
            attempt = login_throttle.begin(g.user.username)
        except login_throttle.LoginThrottled as exc:
            raise ValidationError(ngettext(
                "Too many wrong passwords. Try again in %(num)s minute.",
                "Too many wrong passwords. Try again in %(num)s minutes.",
                max(1, -(-exc.retry_after // 60)))) from None
        if check_password_hash(g.user.password or "", field.data or ""):
            login_throttle.succeeded(attempt)
            return
        login_throttle.failed(attempt)
        raise ValidationError(_("This is not your current password."))

    def validate_password(self, field) -> None:
        problem = password_problem(field.data, g.user.username)
        if problem:
            raise ValidationError(problem)


# --- views ----------------------------------------------------------------------------------------

class AuthDBView(FabAuthDBView):
    """FAB's sign-in form with failure throttling, API-only accounts kept out and a TOTP step."""

    login_template = "appbuilder/general/security/login_db.html"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            try:
                user = self.appbuilder.sm.authenticate_staff(form.username.data,
                                                             form.password.data)
            except login_throttle.LoginThrottled as exc:
                return throttled_page(exc.retry_after)
            if not user:
                flash(str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            if totp_enrolled(user):
                session[PENDING_KEY] = {"uid": user.id, "at": int(time.time()),
                                        "next": next_url}
                return redirect(url_for(".second_step"))
            sign_in(user)
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form,
                                    appbuilder=self.appbuilder)

    @expose("/login/code", methods=["GET", "POST"])
    @no_cache
    def second_step(self):
        pending = session.get(PENDING_KEY) or {}
        user = None
        if pending and time.time() - pending.get("at", 0) <= PENDING_SECONDS:
            user = self.appbuilder.sm.get_user_by_id(pending.get("uid"))
        if user is None or not user.is_active:
            session.pop(PENDING_KEY, None)
            flash(_("Sign in again: the time to give the code has run out."), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        form = CodeForm()
        if form.validate_on_submit():
            try:
                attempt = login_throttle.begin(user.username)
            except login_throttle.LoginThrottled as exc:
                return throttled_page(exc.retry_after)
            if accept_code(user.id, form.code.data):
                login_throttle.succeeded(attempt)
                next_url = get_safe_redirect(pending.get("next") or "")
                sign_in(user)
                return redirect(next_url)
            login_throttle.failed(attempt)
            flash(_("This code is not valid. Type the code your app shows now."), "warning")
        return self.render_template("security/login_code.html", form=form,
                                    title=_("Second factor"), appbuilder=self.appbuilder)


class ResetMyPasswordView(FabResetMyPasswordView):
    """Changing one's own password asks for the current one (a session left open on a shared
    PC must not be enough to take the account over)."""

    form = ChangeMyPasswordForm
    form_title = _l("Change my password")
    message = _l("Your password has been changed. Other sessions of your account are closed.")


class ResetPasswordView(FabResetPasswordView):
    """An administrator sets another user's password: a missing user or a password the policy
    refuses (e.g. it contains that user's name) is said on the form, never a 500."""

    def form_post(self, form):
        pk = request.args.get("pk", "")
        user = self.appbuilder.sm.get_user_by_id(int(pk)) if pk.isdigit() else None
        if user is None:
            flash(_("This user does not exist."), "warning")
            return redirect(self.appbuilder.get_url_for_index)
        try:
            self.appbuilder.sm.reset_password(user.id, form.password.data)
        except PasswordRejected as exc:
            form.password.errors = [exc.message]
            return self.render_template(self.form_template, title=self.form_title,
                                        widgets=self._get_edit_widget(form=form),
                                        appbuilder=self.appbuilder)
        flash(str(self.message), "info")
        return None


class UserDBModelView(FabUserDBModelView):
    """FAB's user screens; the user's own page also shows the second-factor status."""

    @expose("/userinfo/")
    @has_access
    def userinfo(self):
        actions = {"resetmypassword": self.actions.get("resetmypassword"),
                   "userinfoedit": self.actions.get("userinfoedit")}
        item = self.datamodel.get(g.user.id, self._base_filters)
        widgets = self._get_show_widget(g.user.id, item, actions=actions,
                                        show_fieldsets=self.user_show_fieldsets)
        self.update_redirect()
        return self.render_template("security/user_info.html", title=self.user_info_title,
                                    widgets=widgets, appbuilder=self.appbuilder,
                                    totp_enrolled=totp_enrolled(g.user),
                                    totp_required=totp_required(g.user),
                                    can_use_totp=not is_api_only(g.user))


class TotpView(BaseView):
    """Set up or remove one's own authenticator app. Open to every signed-in staff user (it
    is about their own account), so it checks the login itself instead of a FAB permission.
    GET changes nothing: the new secret waits in the session until a code confirms it."""

    route_base = "/account/second-factor"
    default_view = "setup"

    def _user(self):
        if not getattr(current_user, "is_authenticated", False):
            return None
        return current_user

    @expose("/", methods=["GET", "POST"])
    @no_cache
    def setup(self):
        user = self._user()
        if user is None:
            return redirect(self.appbuilder.get_url_for_login_with(request.path))
        if totp_enrolled(user):
            return self.render_template("security/totp_enrolled.html",
                                        form=ConfirmPasswordForm(),
                                        title=_("Second factor"), appbuilder=self.appbuilder,
                                        required=totp_required(user))
        secret = session.get(ENROL_KEY)
        if not secret:
            secret = session[ENROL_KEY] = totp.generate_secret()
        form = CodeForm()
        if form.validate_on_submit():
            if totp.matching_step(secret, form.code.data) is not None:
                row = totp_row(user.id) or StaffTotp(user_id=user.id)
                row.secret, row.confirmed_at = secret, utcnow()
                row.last_step = totp.matching_step(secret, form.code.data)
                db.session.add(row)
                db.session.commit()
                session.pop(ENROL_KEY, None)
                flash(_("Second factor set up: from now on you sign in with a code too."),
                      "success")
                return redirect(self.appbuilder.get_url_for_userinfo)
            flash(_("This code is not valid. Type the code your app shows now."), "warning")
        issuer = current_app.config.get("APP_NAME", "CreditDesk")
        uri = totp.provisioning_uri(secret, user.username, issuer)
        return self.render_template("security/totp_setup.html", form=form, secret=secret,
                                    uri=uri, qr=totp.qr_svg(uri), title=_("Second factor"),
                                    appbuilder=self.appbuilder)

    @expose("/remove", methods=["POST"])
    @no_cache
    def remove(self):
        user = self._user()
        if user is None:
            return redirect(self.appbuilder.get_url_for_login)
        form = ConfirmPasswordForm()
        if not form.validate_on_submit() or not check_password_hash(user.password or "",
                                                                    form.password.data or ""):
            flash(_("This is not your current password."), "warning")
            return redirect(url_for(".setup"))
        if totp_required(user):
            flash(_("Your role needs a second factor: it cannot be removed."), "warning")
            return redirect(url_for(".setup"))
        row = totp_row(user.id)
        if row is not None:
            db.session.delete(row)
            db.session.commit()
        flash(_("Second factor removed."), "info")
        return redirect(self.appbuilder.get_url_for_userinfo)


def init_app(app: Flask) -> None:
    """Signals, error pages and the second-factor gate (called by the security manager)."""
    user_logged_in.connect(_on_logged_in, app)
    user_logged_out.connect(_on_logged_out, app)
    app.register_error_handler(403, forbidden_page)
    app.before_request(_gate)

