"""Letters: one PDF per message, collected into a print batch for the print shop.

Each letter is written to the open print batch: in the file store shared by every host
(app.core.storage, under letters/<batch>/), or in the local folder staff set; staff download a batch as a zip (the PDFs, any invoice PDFs to enclose, and
a manifest.csv) from Messages → Print batches, which closes it: later letters start a new batch.
Writing a letter twice overwrites the same file, so a letter is never printed twice.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec


def _build(settings):
    from plugins.letter.channel import LetterChannel

    return LetterChannel(settings)


plugin = PluginSpec(
    name="letter", kind="channel", channel="letter", priority=10,
    label=_l("Letters (print batches)"),
    description=_l("Prints a PDF letter per message into a batch for the print shop."),
    factory=_build, enabled_by_default=True,
    settings=(PluginSetting("folder", _l("Local folder for print batches (empty: the file store "
                                       "shared by every host)"),
                            default=""),),
)
