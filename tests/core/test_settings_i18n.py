"""No English on the French and Dutch settings screens: every label, help text, choice label
and group the registry declares has a French and a Dutch translation, and the forms rendered in
fr and nl show none of the shipped English texts.

Like tests/i18n, this fails until new texts are translated in translations/{fr,nl}."""
from __future__ import annotations

import pytest
from babel.support import Translations

from app.core import settings as registry
from app.core.i18n import TRANSLATIONS_DIR


def _msgid(text) -> str | None:
    args = getattr(text, "_args", None)
    return args[0] if args else None


def _shipped_texts() -> set[str]:
    texts = set()
    for group in registry.GROUPS.values():
        texts |= {_msgid(group.label), _msgid(group.help)}
    for found in registry.REGISTRY.values():
        texts |= {_msgid(found.label), _msgid(found.help)}
        texts |= {_msgid(label) for _value, label in found.choices}
    return {t for t in texts if t}


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_every_declared_text_is_translated(app, language):
    catalogue = Translations.load(str(TRANSLATIONS_DIR), [language])
    missing = sorted(t for t in _shipped_texts() if t not in catalogue._catalog
                     or not catalogue._catalog[t])
    assert not missing, f"{language}: {missing}"


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_the_forms_show_no_shipped_english(staff_client, language):
    # Texts that read the same in every language (a proper noun, "BIC") are not English.
    english = {t for t in _shipped_texts() if len(t) > 12 and " " in t}
    for role in ("Admin", "AR clerk"):
        client = staff_client(role)
        client.get(f"/lang/{language}")
        pages = ["/settings/rules/"] + [f"/settings/rules/{g}" for g in registry.GROUPS]
        for path in pages:
            html = client.get(path).get_data(as_text=True).replace("&#34;", '"')
            found = sorted(t for t in english if t.split("%(")[0] in html)
            assert not found, (language, role, path, found)
