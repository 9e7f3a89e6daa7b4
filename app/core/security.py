"""Staff security: FAB's security manager with CreditDesk's roles defined in code, server-side
staff sessions, the password policy, failure-only sign-in throttling and an optional TOTP
second factor (app/core/staff_auth.py, passwords.py, login_throttle.py, totp.py)."""
from __future__ import annotations

import logging

from flask import current_app, g, has_request_context
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_login import LoginManager

from app.core import login_throttle, staff_auth
from app.core.passwords import check_password, fab_validator
from app.core.staff_auth_models import StaffSession  # noqa: F401  (tables on the metadata)

log = logging.getLogger(__name__)


class CreditDeskSecurityManager(SecurityManager):
    authdbview = staff_auth.AuthDBView
    resetmypasswordview = staff_auth.ResetMyPasswordView
    resetpasswordview = staff_auth.ResetPasswordView
    userdbmodelview = staff_auth.UserDBModelView

    def __init__(self, appbuilder):
        app = current_app._get_current_object()
        # FAB's own user forms (add user, reset a user's password) run the policy too.
        app.config["FAB_PASSWORD_COMPLEXITY_ENABLED"] = True
        app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = fab_validator
        super().__init__(appbuilder)
        staff_auth.init_app(app)

    # FAB's Flask-Limiter counted every sign-in POST, successes too, in Redis (a 500 while
    # Redis was down): app/core/login_throttle.py counts failures, in the database, instead.
    # AUTH_RATE_LIMITED switches that throttle on and off.
    @property
    def is_auth_limited(self) -> bool:
        return False

    def create_limiter(self, app):
        # Any limit FAB attaches to a view later keeps counting in memory, never answers 500,
        # while its Redis storage is down (unless the configuration says otherwise).
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
        return super().create_limiter(app)

    def create_login_manager(self, app) -> LoginManager:
        lm = super().create_login_manager(app)
        lm.user_loader(self.load_session_user)
        return lm

    def load_session_user(self, pk):
        """Flask-Login's loader for the session cookie: the user, only while the cookie's
        server-side session is open (load_user stays as it is for JWTs)."""
        user = self.load_user(pk)
        if user is None or not staff_auth.session_is_open(user):
            return None
        return user

    def register_views(self) -> None:
        super().register_views()
        self.appbuilder.add_view_no_menu(staff_auth.TotpView())

    # --- authentication ---------------------------------------------------------------------
    def _throttled_auth(self, username, password):
        attempt = login_throttle.begin(username)
        user = super().auth_user_db(username, password)
        if user:
            login_throttle.succeeded(attempt)
        else:
            login_throttle.failed(attempt)
        return user

    def authenticate_staff(self, username, password):
        """The sign-in form's password check (may raise LoginThrottled)."""
        return self._throttled_auth(username, password)

    def auth_user_db(self, username, password):
        """FAB's API login (JWT). It cannot ask for a second factor, so accounts that have one
        must use the web sign-in; a throttled attempt is refused like a wrong password (FAB's
        API answers any exception with a 500)."""
        try:
            user = self._throttled_auth(username, password)
        except login_throttle.LoginThrottled:
            log.warning("API sign-in for %r refused: too many failures", username)
            return None
        if user is not None and staff_auth.needs_second_factor(user):
            log.warning("API sign-in for %r refused: the account uses a second factor", username)
            return None
        return user

    # --- passwords --------------------------------------------------------------------------
    def add_user(self, username, first_name, last_name, email, role=None, password="",
                 hashed_password="", groups=None, commit=True):
        if password and not hashed_password:
            check_password(password, username)
        return super().add_user(username, first_name, last_name, email, role=role,
                                password=password, hashed_password=hashed_password,
                                groups=groups, commit=commit)

    def reset_password(self, userid, password):
        """Every password change: the policy, then every session of the user is closed; the
        user changing their own password keeps this browser signed in on a new session."""
        user = self.get_user_by_id(userid)
        if user is None:
            return
        check_password(password, user.username)
        super().reset_password(user.id, password)
        staff_auth.revoke_all(user.id)
        current = getattr(g, "user", None) if has_request_context() else None
        if current is not None and getattr(current, "is_authenticated", False) \
                and current.id == user.id:
            staff_auth.start_session(user)

    def sync_roles(self) -> None:
        """Create the role rows for the roles of app.core.roles; idempotent.

        Their rights are regexes that FAB evaluates in code (builtin roles), so no permission
        rows are stored. FAB_CREATE_DB is off so that FAB never runs create_all() behind
        Alembic's back; this runs after the migrations instead.
        """
        names = [*self.builtin_roles, self.auth_role_admin, self.auth_role_public]
        for name in dict.fromkeys(names):
            if self.find_role(name) is None:
                self.add_role(name)
