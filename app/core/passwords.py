"""Staff password policy: one check for every path that sets a password.

FAB's forms (add user, reset a user's password, reset my password) call it through
FAB_PASSWORD_COMPLEXITY_VALIDATOR; the security manager's add_user and reset_password call it
for everything else (``flask fab create-admin``, ``flask fab reset-password``, the demo users).

The list of common passwords is the 20,000 most common leaked passwords shipped by Django
(app/core/data/README.md says where it comes from and under which licence).
"""
from __future__ import annotations

import gzip
import string
from functools import lru_cache
from pathlib import Path

import click
from flask import current_app, has_app_context
from flask_babel import gettext as _

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
DEFAULT_MIN_LENGTH = 12
# scrypt hashes any length, but a megabyte "password" only costs us CPU.
MAX_LENGTH = 256
_DECORATION = string.digits + string.punctuation + " "


class PasswordRejected(click.ClickException):
    """A password the policy refuses. A ClickException so that ``flask fab create-admin`` and
    ``flask fab reset-password`` print the reason instead of a traceback."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle if line.strip())


def min_length() -> int:
    if has_app_context():
        return int(current_app.config.get("AUTH_PASSWORD_MIN_LENGTH", DEFAULT_MIN_LENGTH))
    return DEFAULT_MIN_LENGTH


def password_problem(password: str | None, username: str | None = None) -> str | None:
    """Why this password is refused (translated), or None when it is acceptable."""
    password = password or ""
    shortest = min_length()
    if len(password) < shortest:
        return _("A password needs at least %(n)s characters.", n=shortest)
    if len(password) > MAX_LENGTH:
        return _("A password may have at most %(n)s characters.", n=MAX_LENGTH)
    lowered = password.lower()
    # "Password2024!" is "password" with decoration: attackers try those first.
    core = lowered.strip(_DECORATION)
    if not core:
        return _("A password of digits and punctuation only is easy to guess: add letters or "
                 "words.")
    common = common_passwords()
    if lowered in common or core in common or lowered.replace(" ", "") in common:
        return _("This password is one of the most common passwords: choose another one.")
    if len(set(lowered)) < 5:
        return _("This password repeats too few different characters: choose another one.")
    if username and len(username) >= 3 and username.lower() in lowered:
        return _("A password must not contain the user name.")
    return None


def check_password(password: str | None, username: str | None = None) -> None:
    """Raise PasswordRejected when the policy refuses the password."""
    problem = password_problem(password, username)
    if problem:
        raise PasswordRejected(problem)


def fab_validator(password: str) -> None:
    """FAB_PASSWORD_COMPLEXITY_VALIDATOR: FAB turns this exception into a form error."""
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    problem = password_problem(password)
    if problem:
        raise PasswordComplexityValidationError(problem)
