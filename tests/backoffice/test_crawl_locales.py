"""Every back-office page, for every staff role, in French, Dutch and English: no answer >= 500,
and no English the product itself ships on the French and Dutch screens.

The pages are every GET route of the back office (menu entries, lists, and the first row's
show/edit pages), their URLs filled with real rows by tests/security/crawl.py. Every role walks
them in French, Dutch and English: what a role is refused, or sees read-only, is a page of its
own (the API-only account's page, read-only settings forms, refusals), so each role and each
language is walked.

"Shipped English" is a list built from the catalogues, not typed by hand:
- our own strings (translations/messages.pot) of three words or more whose translation in the
  language exists and differs (a string still waiting for its translation is the i18n tests'
  business, tests/i18n);
- Flask-AppBuilder's own strings (its templates and code) that neither FAB's catalogue nor ours
  translates, e.g. "Record Count" under every list.
Page text is read without tags, scripts, styles and attribute values; customer data (names,
free texts of the dataset) is not in the catalogue, so it does not match.
"""
from __future__ import annotations

import gettext
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.pofile import read_po

from app.core.roles import STAFF_ROLES
from tests.security.crawl import seed_dataset
from tests.security.staff_support import get, signed_in_client
from tests.security.test_role_crawl import back_office_get_routes

ROOT = Path(__file__).resolve().parents[2]
FAB_DIR = Path(flask_appbuilder.__file__).resolve().parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sd]|\{[^}]*\}|<[^>]+>|\n")

# FAB strings that are not on a back-office page or not words a person reads as English.
FAB_NOT_SHOWN = {"Sign In with ", "Your Feature", "Other View"}
# FAB's words that are the same in the language (FAB's catalogue leaves them as they are).
SAME_WORD = {"fr": {"Actions", "Permission", "Permissions", "Relation"}, "nl": {"Detail", "In"}}


class _Text(HTMLParser):
    """The text a person reads: data outside <script>/<style>, one entry per text node."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            text = " ".join(data.split())
            if text:
                self.parts.append(text)


def page_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def _catalogue(path: Path) -> dict[str, str]:
    with path.open("rb") as handle:
        return {k: v for k, v in gettext.GNUTranslations(handle)._catalog.items()
                if isinstance(k, str) and k}


@cache
def our_phrases(language: str) -> frozenset[str]:
    translated = _catalogue(ROOT / "translations" / language / "LC_MESSAGES" / "messages.mo")
    with (ROOT / "translations" / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    phrases = set()
    for message in template:
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        translation = translated.get(msgid) or translated.get((msgid, 0))
        if not msgid or not translation or translation == msgid:
            continue
        for fragment in PLACEHOLDER.split(msgid):
            fragment = fragment.strip(" .,:;!?()\"'«»-–—")
            if len(re.findall(r"[A-Za-z]{2,}", fragment)) >= 3 and fragment not in translation:
                phrases.add(fragment)
    return frozenset(phrases)


@cache
def fab_missing(language: str) -> frozenset[str]:
    """FAB's own strings that FAB's catalogue for the language and ours both leave English."""
    found = set()
    call = re.compile(r"""\b(?:_|lazy_gettext|gettext|_l)\(\s*(?:'([^'\\]+)'|"([^"\\]+)")\s*[,)]""")
    for path in [*FAB_DIR.glob("templates/**/*.html"), *FAB_DIR.glob("**/*.py")]:
        for match in call.finditer(path.read_text(errors="ignore")):
            found.add(match.group(1) or match.group(2))
    fab = _catalogue(FAB_DIR / "translations" / language / "LC_MESSAGES" / "messages.mo")
    ours = _catalogue(ROOT / "translations" / language / "LC_MESSAGES" / "messages.mo")
    return frozenset(s for s in found - FAB_NOT_SHOWN - SAME_WORD[language]
                     if (fab.get(s) in (None, "", s)) and (ours.get(s) in (None, "", s)))


def english_on_page(html: str, language: str) -> set[str]:
    parts = page_text(html)
    text = " | ".join(parts)
    hits = {p for p in our_phrases(language) if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text)}
    for phrase in fab_missing(language):
        if " " in phrase.strip():
            if re.search(rf"(?<!\w){re.escape(phrase.strip())}(?!\w)", text):
                hits.add(phrase)
        elif phrase in parts:  # one word: only a text node that is that word (a button, a title)
            hits.add(phrase)
    return hits


def switch_language(client, language: str) -> None:
    response = get(client, f"/lang/{language}")
    assert response.status_code in (302, 303), response.status_code
    with client.session_transaction() as session:
        assert session.get("locale") == language


# Every role in every language of the back office.
WALKS = [(role, language) for language in ("fr", "nl", "en") for role in STAFF_ROLES]


@pytest.fixture(scope="module")
def crawl(app):
    """One walk for the tests below: (answers >= 500, pages with shipped English). Seeding the
    dataset and walking about 1,400 pages is most of this module's time."""
    from app.extensions import db
    from tests.conftest import _truncate_all

    errors, english = [], []
    with app.app_context():
        try:
            seed_dataset(app)
            routes = back_office_get_routes(app)
            assert len(routes) > 150
            for role, language in WALKS:
                client, _user = signed_in_client(app, role)
                switch_language(client, language)
                for route in routes:
                    response = get(client, route.url)
                    status = response.status_code
                    if status >= 500:
                        errors.append(f"{role} [{language}] {route.url}: {status}")
                    elif (status == 200 and language != "en"
                          and response.mimetype == "text/html"):
                        hits = english_on_page(response.get_data(as_text=True), language)
                        if hits:
                            english.append(f"{role} [{language}] {route.url}: {sorted(hits)}")
                    response.close()
        finally:
            db.session.rollback()
            db.session.remove()
            _truncate_all()
    return errors, english


def test_phrase_lists_are_built():
    # The lists come from the catalogues: an empty list would make the crawl prove nothing.
    assert len(our_phrases("fr")) > 100 and len(our_phrases("nl")) > 100
    assert "Record Count" in FAB_DIR.joinpath(
        "templates/appbuilder/general/lib.html").read_text()


def test_english_detection_reads_text_not_markup():
    html = ('<p title="Record Count">Nombre</p><script>var a = "Record Count";</script>'
            '<strong>Record Count</strong>')
    assert page_text(html) == ["Nombre", "Record Count"]


def test_every_page_every_role_every_language_answers(crawl):
    errors, _english = crawl
    assert not errors, "answers >= 500:\n" + "\n".join(errors)


def test_no_shipped_english_on_french_and_dutch_pages(crawl):
    _errors, english = crawl
    assert not english, "English on a French/Dutch page:\n" + "\n".join(english)


def test_our_catalogue_is_merged_after_fabs(app):
    # Flask-Babel merges the folders in order, a later catalogue overriding an earlier one: ours
    # comes after FAB's, so a FAB string listed in app/core/fab_strings.py gets our translation.
    from flask_babel import get_babel

    folders = [Path(folder).resolve() for folder in get_babel(app).translation_directories]
    assert folders.index(FAB_DIR / "translations") < folders.index(ROOT / "translations")
