"""Locale choice (explicit, then customer, then Accept-Language) and per-locale formatting."""
import random
from datetime import date
from decimal import Decimal

import pytest
from flask import g
from flask_babel import force_locale

from app.core.i18n import day, money, select_language


def test_explicit_choice_wins_over_accept_language(app):
    with app.test_request_context("/?lang=nl", headers={"Accept-Language": "fr-BE,fr;q=0.9"}):
        assert select_language() == "nl"


def test_customer_language_comes_before_accept_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        g.customer_language = "fr"
        assert select_language() == "fr"


def test_accept_language_then_default(app):
    with app.test_request_context("/", headers={"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}):
        assert select_language() == "nl"
    with app.test_request_context("/", headers={"Accept-Language": "de-DE"}):
        assert select_language() == "en"


def test_session_choice_from_the_language_menu(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        from flask import session

        session["locale"] = "fr"
        assert select_language() == "fr"


def test_amounts_and_dates_follow_the_locale(app):
    amount = Decimal("1234.56")
    with app.test_request_context("/"):
        with force_locale("fr_BE"):
            assert money(amount).replace("\u202f", " ").replace("\xa0", " ") == "1 234,56 €"
            assert day(date(2026, 3, 5)) == "5 mars 2026"
        with force_locale("nl_BE"):
            assert money(amount).replace("\xa0", " ") == "€ 1.234,56"
            assert day(date(2026, 3, 5)) == "5 mrt 2026"
        with force_locale("en"):
            assert money(amount) == "€1,234.56"
            assert day(date(2026, 3, 5)) == "Mar 5, 2026"


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_money_writes_amounts_exactly_as_babel(app, language):
    """money() formats without Babel's pattern machinery (it is on every line of a statement):
    the text must stay Babel's, rounding, negative amounts and other currencies included."""
    from babel import numbers

    from app.core.i18n import current_locale

    rng = random.Random(7)
    values = [Decimal(0), Decimal("-0.001"), Decimal("0.005"), Decimal("0.015"),
              Decimal("-1234567.891"), Decimal("999.995"), Decimal(1000000000), 12, "3.5"]
    values += [Decimal(rng.randint(-10**9, 10**9)) / 100 for _ in range(500)]
    values += [Decimal(rng.randint(-10**6, 10**6)) / 1000 for _ in range(200)]
    with app.test_request_context(f"/?lang={language}"):
        for currency in ("EUR", "USD", "GBP", "CHF", "JPY"):
            for value in values:
                expected = numbers.format_currency(Decimal(value), currency,
                                                   locale=current_locale())
                assert money(value, currency) == expected, (value, currency)


def test_the_request_catalogue_follows_a_changed_locale(app):
    """The catalogue is kept for the request (app.core.i18n.RequestCatalogueDomain), yet
    force_locale (messages in the customer's language) and refresh (the portal learns who is
    signed in) still switch the language of the very next string."""
    import flask_babel
    from flask_babel import gettext

    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert gettext("Invoices") == "Factures"
        assert gettext("Invoices") == "Factures"  # from the kept catalogue
        with force_locale("nl_BE"):
            assert gettext("Invoices") == "Facturen"
        assert gettext("Invoices") == "Factures"
        g.customer_language = "en"  # the signed-in customer's language beats the browser's
        flask_babel.refresh()
        assert gettext("Invoices") == "Invoices"


def test_staff_language_switch_shows_french_screens(staff_client):
    client = staff_client("Admin")
    client.get("/lang/fr")
    page = client.get("/users/list/").get_data(as_text=True)
    assert "Utilisateurs" in page or "utilisateurs" in page.lower()


def test_counts_take_the_plural_form_of_the_language(app):
    from flask_babel import ngettext

    with app.test_request_context("/"):
        for locale, one, many in (("fr_BE", "1 facture échue", "2 factures échues"),
                                  ("nl_BE", "1 vervallen factuur", "2 vervallen facturen"),
                                  ("en", "1 overdue invoice", "2 overdue invoices")):
            with force_locale(locale):
                assert ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", 1) == one
                assert ngettext("%(num)s overdue invoice", "%(num)s overdue invoices", 2) == many
