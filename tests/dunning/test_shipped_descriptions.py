"""Shipped dunning policies are described in the reader's language; a description staff edited
stays as they typed it, in every language."""
from __future__ import annotations

from html import unescape

import pytest
from flask_babel import force_locale

from app.dunning.defaults import POLICIES, SHIPPED_DESCRIPTIONS, shipped_description
from app.extensions import db
from tests.dunning.conftest import policy

pytestmark = pytest.mark.usefixtures("defaults")

# A telling piece of each language's text of the Belgian consumers' description.
BELGIAN = {"en": "Code of Economic Law, Book XIX: a free first reminder",
           "fr": "Code de droit économique, livre XIX : un premier rappel gratuit",
           "nl": "Wetboek van economisch recht, boek XIX: een eerste, kosteloze herinnering"}
FRENCH_B2B = {"en": "the €40 recovery indemnity",
              "fr": "l'indemnité forfaitaire pour frais de recouvrement de 40 €",
              "nl": "de forfaitaire vergoeding van € 40 voor invorderingskosten"}


def _page(staff_client, language: str, url: str) -> str:
    client = staff_client("Credit manager")
    client.get(f"/lang/{language}")
    page = client.get(url)
    assert page.status_code == 200
    return unescape(page.get_data(as_text=True))


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_a_shipped_policy_is_described_in_the_readers_language(staff_client, language):
    item = policy("Belgian consumers")
    assert item.description == POLICIES[0][3]  # stored in English, as shipped
    html = _page(staff_client, language, f"/dunningpolicyview/show/{item.id}")
    assert BELGIAN[language] in html
    others = {code: text for code, text in BELGIAN.items() if code != language}
    assert not any(text in html for text in others.values())
    french = policy("French businesses")
    html = _page(staff_client, language, f"/dunningpolicyview/show/{french.id}")
    assert FRENCH_B2B[language] in html


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_an_edited_description_shows_as_typed(staff_client, language):
    item = policy("Belgian consumers")
    typed = item.description + " Voir aussi notre charte maison."
    item.description = typed
    db.session.commit()
    html = _page(staff_client, language, f"/dunningpolicyview/show/{item.id}")
    assert typed in html
    assert BELGIAN["fr"] not in html and BELGIAN["nl"] not in html


def test_every_shipped_description_is_declared_and_others_pass_through(app):
    shipped = {p[3] for p in POLICIES}
    assert shipped == set(SHIPPED_DESCRIPTIONS)
    # The marked text is exactly the installed text (else the key would never match).
    assert all(label._args[0] == text for text, label in SHIPPED_DESCRIPTIONS.items())
    with force_locale("nl"):
        assert shipped_description(POLICIES[0][3]).startswith(BELGIAN["nl"])
        assert shipped_description("Onze eigen regels") == "Onze eigen regels"
        assert shipped_description(None) == ""
