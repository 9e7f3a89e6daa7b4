"""Shipped dunning policies and levels are named in the reader's language; a name staff gave
stays as they typed it, in every language."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from app.dunning.models import DunningLevel
from app.dunning.shipped_names import SHIPPED_NAMES, shipped_name
from app.extensions import db
from tests.dunning.conftest import level

pytestmark = pytest.mark.usefixtures("defaults")

# Shipped names whose translations are in the catalogues (also the tone labels).
LEVEL_NAMES = {"en": "Friendly reminder", "fr": "Rappel amical", "nl": "Vriendelijke herinnering"}
POLICY_NAMES = {"en": "Belgian consumers", "fr": "Consommateurs belges",
                "nl": "Belgische consumenten"}


def _page(staff_client, language: str, url: str) -> str:
    client = staff_client("Credit manager")
    client.get(f"/lang/{language}")
    page = client.get(url)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _levels_url(item: DunningLevel) -> str:
    return f"/dunninglevelview/show/{item.id}"


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_a_shipped_level_is_named_in_the_readers_language(staff_client, language):
    item = level("Businesses (Belgium and EU)", 1)
    assert item.name == "Friendly reminder"  # stored as shipped: the code of the name
    html = _page(staff_client, language, _levels_url(item))
    assert LEVEL_NAMES[language] in html
    listing = _page(staff_client, language, "/dunninglevelview/list/?psize_DunningLevelView=100")
    assert LEVEL_NAMES[language] in listing


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_a_shipped_policy_is_named_in_the_readers_language(staff_client, language):
    with force_locale(language):
        if _("Belgian consumers") == "Belgian consumers":
            pytest.xfail("the policy names' translations arrive with the catalogue merge")
    html = _page(staff_client, language, "/dunningpolicyview/list/")
    assert POLICY_NAMES[language] in html


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_a_renamed_level_keeps_the_name_staff_gave_it(staff_client, language):
    item = level("Businesses (Belgium and EU)", 1)
    item.name = "Petit rappel maison"
    db.session.commit()
    html = _page(staff_client, language, _levels_url(item))
    assert "Petit rappel maison" in html
    assert LEVEL_NAMES[language] not in html.split("Petit rappel maison")[0][-300:]


def test_the_dry_run_names_the_level_in_the_readers_language(staff_client):
    from tests.dunning.conftest import business, overdue

    overdue(business(name="Atelier Dupont"), 10)
    html = _page(staff_client, "fr", "/dunning/dry-run/?outcome=all")
    assert "Atelier Dupont" in html and '"Rappel amical"' in html
    assert '"Friendly reminder"' not in html


def test_every_shipped_name_is_declared_and_unchanged_names_pass_through(app):
    from app.dunning.defaults import POLICIES

    shipped = {p[0] for p in POLICIES} | {spec.name for p in POLICIES for spec in p[4]}
    assert shipped == set(SHIPPED_NAMES)
    with force_locale("fr"):
        assert shipped_name("Friendly reminder") == "Rappel amical"
        assert shipped_name("Our own step") == "Our own step"
        assert shipped_name("") == ""
