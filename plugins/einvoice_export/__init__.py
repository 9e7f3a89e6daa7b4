"""E-invoices into a folder, for companies whose own ERP sends their Peppol traffic.

Each document is written as ``<number>.xml`` (first as ``.part``, then renamed, so the ERP never
reads half a file). Writing the same document again replaces it with identical content.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec
from app.notifications.channels import PermanentError, TransientError


class FolderExport:
    def __init__(self, settings: dict) -> None:
        self.folder = (settings.get("folder") or "").strip()

    def is_configured(self) -> bool:
        return bool(self.folder)

    def send(self, message) -> str:
        from app.einvoicing import services

        document = services.document_for_message(message)
        if document is None or not document.xml:
            raise PermanentError("the message carries no e-invoice")
        folder = Path(self.folder)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", document.number) + ".xml"  # never a path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / (name + ".part")
            partial.write_text(document.xml, encoding="utf-8")
            os.replace(partial, folder / name)
        except OSError as exc:  # full disk, a share not mounted: staff can fix it, then retry
            raise TransientError(f"cannot write to {folder}: {exc}") from exc
        services.record_handover(document, f"file:{name}", "EXPORTED", delivered=True)
        return f"file:{name}"

    def close(self) -> None:
        pass


plugin = PluginSpec(
    name="einvoice_export", kind="channel", channel="export", priority=10,
    label=_l("E-invoices into a folder"),
    description=_l("Writes each e-invoice as an XML file into a folder your own ERP sends from."),
    factory=FolderExport, enabled_by_default=False,
    settings=(PluginSetting("folder", _l("Folder"), default=""),),
)
