"""Every string a person reads exists in French and Dutch, and nothing fuzzy reaches them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("fr", "nl")


def _catalogue(language: str):
    with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def _extracted_ids(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "--no-location", "--omit-header",
         "app", "plugins"],
        cwd=ROOT, check=True, capture_output=True,
    )
    with pot.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_untranslated_or_fuzzy_entry(language):
    problems = []
    for message in _catalogue(language):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {message.id!r}")
    assert problems == [], f"{language}: {len(problems)} problems, e.g. {problems[:10]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_holds_every_string_in_the_code(language, tmp_path):
    in_code = _extracted_ids(tmp_path)
    catalogue = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue(language) if m.id}
    missing = sorted(in_code - catalogue)
    assert missing == [], (f"{len(missing)} strings are not in translations/{language} — run the "
                           f"pybabel extract/update steps of the README: {missing[:10]}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_survive_translation(language):
    import re

    placeholder = re.compile(r"%\((\w+)\)s")
    for message in _catalogue(language):
        if not message.id or not message.string or isinstance(message.id, (list, tuple)):
            continue
        assert set(placeholder.findall(message.id)) == set(placeholder.findall(message.string)), \
            f"{language}: {message.id!r} -> {message.string!r}"
