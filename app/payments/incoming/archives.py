"""A ZIP of statement files (banks deliver camt.053 that way): the files in it, within limits.

A ZIP bomb (a few kilobytes that unpack to gigabytes, or thousands of members) is refused before
anything is unpacked beyond the limits: at most ``payments.zip_max_files`` files, none and all
together no larger than the statement size limit, no ZIP inside the ZIP, no encrypted member.
Each member's size is checked as it is read too: the sizes a ZIP declares can lie.
"""
from __future__ import annotations

import io
import time
import zipfile

from flask_babel import gettext as _

from app.core.file_names import clean_file_name
from app.core.settings import get_setting
from app.payments.incoming.report import StatementImportReport
from app.payments.incoming.statements import StatementFileError

ZIP_MAGIC = b"PK\x03\x04"


def is_zip(data: bytes) -> bool:
    return data.startswith(ZIP_MAGIC)


def statement_files(data: bytes, max_bytes: int) -> list[tuple[str, bytes]]:
    """[(member name, its bytes)] in the archive's order; StatementFileError when refused."""
    max_files = int(get_setting("payments.zip_max_files"))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()
                   and not info.filename.rsplit("/", 1)[-1].startswith(".")
                   and not info.filename.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, ValueError, OSError):
        raise StatementFileError(_("The ZIP archive is damaged; nothing was imported."),
                                 "malformed", "ZIP") from None
    if not members:
        raise StatementFileError(_("The ZIP archive holds no file."), "empty", "ZIP")
    if len(members) > max_files:
        raise StatementFileError(_(
            "The ZIP archive holds %(count)s files; at most %(limit)s are imported at once. "
            "Nothing was imported.", count=len(members), limit=max_files), "too_large", "ZIP")
    limit_mb = _megabytes(max_bytes)
    if sum(info.file_size for info in members) > max_bytes:
        raise StatementFileError(_(
            "The ZIP archive unpacks to more than %(limit)s MB, the statement size limit; "
            "nothing was imported.", limit=limit_mb), "too_large", "ZIP")
    files: list[tuple[str, bytes]] = []
    left = max_bytes
    for info in members:
        name = info.filename.rsplit("/", 1)[-1][:200]
        if info.flag_bits & 0x1:
            raise StatementFileError(_(
                "%(name)s in the ZIP archive is encrypted; nothing was imported.", name=name),
                "malformed", "ZIP")
        try:
            with archive.open(info) as member:
                content = member.read(left + 1)
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError):
            raise StatementFileError(_(
                "%(name)s in the ZIP archive cannot be unpacked; nothing was imported.",
                name=name), "malformed", "ZIP") from None
        if len(content) > left:
            raise StatementFileError(_(
                "The ZIP archive unpacks to more than %(limit)s MB, the statement size limit; "
                "nothing was imported.", limit=limit_mb), "too_large", "ZIP")
        if is_zip(content):
            raise StatementFileError(_(
                "%(name)s is a ZIP inside the ZIP archive: unpack it first. Nothing was "
                "imported.", name=name), "unsupported_format", "ZIP")
        left -= len(content)
        files.append((name, content))
    return files


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def import_archive(data: bytes, file_name: str | None, user, limit: int,
                   force_reason: str | None, dry_run: bool, *, import_statement,
                   refused) -> StatementImportReport:
    """Each statement file of the ZIP imported on its own (its own transaction): a file
    refused (or imported before) does not stop the others; the report adds them up.

    ``import_statement`` and ``refused`` are the importer's own (app.payments.incoming
    .importing calls this module, so it hands them over rather than being imported back)."""
    report = StatementImportReport(file_name=clean_file_name(file_name)[:200] if file_name
                                   else None, dry_run=dry_run, format="ZIP")
    started = time.perf_counter()
    try:
        members = statement_files(data, limit)
    except StatementFileError as exc:
        report.format_found = exc.format_found
        return refused(report, exc.message, exc.code)
    problems = []
    for name, content in members:
        part = import_statement(content, name, user, max_bytes=limit,
                                force_reason=force_reason, dry_run=dry_run)
        report.files.append({"file_name": name, "ok": part.ok, "message": part.summary(),
                             "format": part.format, "statement_ids": part.statement_ids})
        if not part.ok:
            problems.append(f"{name}: {part.error}")
            continue
        report.committed = report.committed or part.committed
        report.statement_ids.extend(part.statement_ids)
        report.warnings.extend(f"{name}: {warning}" for warning in part.warnings)
        for counter in ("entries", "new_lines", "duplicates", "skipped"):
            setattr(report, counter, getattr(report, counter) + getattr(part, counter))
        for name_ in ("matched", "suggested", "unmatched", "returns", "returns_open",
                      "ignored"):
            getattr(report, name_).merge(getattr(part, name_))
    if problems and len(problems) == len(members):
        report.error, report.error_code = " ".join(problems), "archive_refused"
    else:
        report.warnings.extend(problems)
    report.seconds = time.perf_counter() - started
    return report
