"""Languages: which locale a request speaks, and money/dates formatted for it.

Translations live in the top-level ``translations/`` folder (English is the source language).
Belgian formatting conventions are used for French and Dutch: fr -> fr_BE, nl -> nl_BE.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import format_currency, format_date, get_babel, get_locale

SUPPORTED_LANGUAGES = ("fr", "nl", "en")
FORMAT_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en"}
TRANSLATIONS_DIR = Path(__file__).resolve().parents[2] / "translations"


def compile_catalogues(directory: Path = TRANSLATIONS_DIR) -> None:
    """Compile every messages.po whose .mo is missing or older; fuzzy entries are left out."""
    for po_path in directory.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        try:
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog, use_fuzzy=False)
        except OSError as exc:  # read-only install: the image compiles them at build time
            logging.getLogger(__name__).warning("cannot compile %s: %s", po_path, exc)


def normalise_language(value: str | None) -> str | None:
    if not value:
        return None
    code = value.replace("-", "_").split("_")[0].lower()
    return code if code in SUPPORTED_LANGUAGES else None


def select_language() -> str:
    """Explicit choice first, then the logged-in customer's language, then Accept-Language."""
    if not has_request_context():
        return current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    explicit = normalise_language(request.args.get("lang") or request.args.get("_l_"))
    if explicit:
        return explicit
    chosen = normalise_language(session.get("locale"))
    if chosen:
        return chosen
    customer_language = normalise_language(getattr(g, "customer_language", None))
    if customer_language:
        return customer_language
    best = request.accept_languages.best_match(SUPPORTED_LANGUAGES)
    return best or current_app.config.get("BABEL_DEFAULT_LOCALE", "en")


def _locale_for_request() -> str:
    return FORMAT_LOCALES[select_language()]


def install_locale_selector(app: Flask) -> None:
    """Replace FAB's selector (which pins the default language into the session on first use)."""
    get_babel(app).locale_selector = _locale_for_request
    app.jinja_env.globals.update(money=money, day=day, current_language=current_language)


def current_language() -> str:
    locale = get_locale()
    return normalise_language(str(locale)) or "en"


def money(amount: Decimal | int | str | None, currency: str = "EUR") -> str:
    if amount is None:
        return ""
    return format_currency(Decimal(amount), currency)


def day(value: date | datetime | None, style: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, style)


def language_locale(language: str) -> str:
    """The Babel locale to force when rendering for a customer of this language."""
    return FORMAT_LOCALES.get(normalise_language(language) or "en", "en")
