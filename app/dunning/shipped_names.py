"""The names of the shipped dunning policies and levels, shown in the reader's language.

Its own module, importing nothing from app.dunning: the models show these names (their repr in
lists and drop-downs), and defaults.py installs the rows, so neither imports the other.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

# The names of the shipped policies and levels, in the viewer's language. The English name a
# row is installed with is its stable code: while staff keep it, every screen shows it
# translated; a name staff changed is theirs and is shown as typed.
SHIPPED_NAMES = {
    "Belgian consumers": _l("Belgian consumers"),
    "Dutch consumers": _l("Dutch consumers"),
    "Businesses (Belgium and EU)": _l("Businesses (Belgium and EU)"),
    "French businesses": _l("French businesses"),
    "Consumers in other countries (no fees)": _l("Consumers in other countries (no fees)"),
    "Due in 3 days": _l("Due in 3 days"),
    "Hand-over to the collection agency": _l("Hand-over to the collection agency"),
    "Friendly reminder": _l("Friendly reminder"),
    "Second reminder": _l("Second reminder"),
    "Formal notice": _l("Formal notice"),
    "First reminder (free)": _l("First reminder (free)"),
    "Formal notice (mise en demeure / ingebrekestelling)":
        _l("Formal notice (mise en demeure / ingebrekestelling)"),
    "Reminder (herinnering)": _l("Reminder (herinnering)"),
    "14-day letter (veertiendagenbrief)": _l("14-day letter (veertiendagenbrief)"),
    "Formal notice (ingebrekestelling)": _l("Formal notice (ingebrekestelling)"),
}


def shipped_name(name: str | None) -> str:
    """A policy or level name as the reader sees it: translated while it is the shipped one."""
    if not name:
        return name or ""
    label = SHIPPED_NAMES.get(name)
    return str(label) if label is not None else name
