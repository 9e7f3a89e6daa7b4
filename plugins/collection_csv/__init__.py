"""Collection agency hand-over as CSV files: one file per case in a drop folder.

The usual way agencies take cases: a file per hand-over in a folder that an SFTP job (the
agency's, or a cron with `sftp -b`) uploads. Each row is one invoice with the debtor's data,
the amounts claimed, and the reminders sent before. Writing the same case again overwrites the
same file (``<case id>.csv``), written to a temporary name first and renamed, so the agency
never picks up half a file and never gets a case twice.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec


def _build(settings):
    from plugins.collection_csv.export import CsvExport

    return CsvExport(settings)


plugin = PluginSpec(
    name="collection_csv", kind="collection_agency",
    label=_l("Collection agency: CSV files for SFTP"),
    description=_l("Writes one CSV file per hand-over into a folder your SFTP upload sends to "
                   "the agency."),
    factory=_build,
    settings=(
        PluginSetting("directory", _l("Folder for the files (empty: instance/collection)"),
                      default=""),
        PluginSetting("delimiter", _l("Column separator"), default=";"),
    ),
)
