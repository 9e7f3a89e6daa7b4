"""Writing a hand-over case as a CSV file (see the package docstring)."""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from flask import current_app

from app.core.spreadsheets import csv_writer
from app.core.storage import storage
from app.core.storage.local import LocalStore

COLUMNS = (
    "case_id", "handed_over_on", "creditor_name", "creditor_enterprise_number",
    "debtor_number", "debtor_name", "debtor_kind", "debtor_vat_number", "debtor_language",
    "debtor_email", "debtor_phone", "address_line1", "address_line2", "postal_code", "city",
    "country", "invoice_number", "issue_date", "due_date", "currency", "total_amount",
    "open_amount", "claimed_amount", "fees", "structured_reference", "reminders",
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
STORE_FOLDER = "collection/"


class CsvExport:
    """Where the files go: the folder staff set (the drop folder an SFTP job reads); without
    one, instance/collection on the embedded default (as before the file store), or the file
    store's collection/ folder when STORAGE_URL names a store every host shares (the transfer
    job then reads it there, e.g. with `rclone` or `aws s3 sync`)."""

    def __init__(self, settings: dict[str, Any]):
        configured = (settings.get("directory") or "").strip()
        if configured or not current_app.config.get("STORAGE_URL"):
            self.store = LocalStore(configured or Path(current_app.instance_path) / "collection",
                                    file_mode=None)  # the transfer job may run as another user
            self.prefix = ""
        else:
            self.store, self.prefix = storage(), STORE_FOLDER
        self.delimiter = (settings.get("delimiter") or ";")[:1]

    def name_for(self, case_id: str) -> str:
        return f"{_SAFE.sub('_', case_id)}.csv"

    def hand_over(self, case: dict[str, Any]) -> str:
        # Stored whole or not at all (a temporary name, then renamed; one PUT in a store): the
        # upload job never sees half a file. The same case again replaces the same file.
        name = self.name_for(case["case_id"])
        self.store.put(self.prefix + name, render(case, self.delimiter).encode("utf-8"))
        return name


def render(case: dict[str, Any], delimiter: str = ";") -> str:
    debtor = case["debtor"]
    address = debtor.get("address") or {}
    reminders = " | ".join(f"{r['date']} {r['level']}" for r in case.get("reminders", []))
    buffer = io.StringIO()
    writer = csv_writer(buffer, delimiter=delimiter, lineterminator="\r\n")  # no formulas
    writer.writerow(COLUMNS)
    for invoice in case["invoices"]:
        writer.writerow([
            case["case_id"], case["handed_over_on"], case["creditor"].get("name"),
            case["creditor"].get("enterprise_number"), debtor["number"], debtor["name"],
            debtor["kind"], debtor.get("vat_number") or "", debtor.get("language") or "",
            debtor.get("email") or "", debtor.get("phone") or "", address.get("line1") or "",
            address.get("line2") or "", address.get("postal_code") or "",
            address.get("city") or "", address.get("country") or "", invoice["number"],
            invoice["issue_date"], invoice["due_date"], invoice["currency"],
            invoice["total_amount"], invoice["open_amount"], invoice["claimed_amount"],
            invoice["fees"], invoice["structured_reference"], reminders,
        ])
    return buffer.getvalue()
