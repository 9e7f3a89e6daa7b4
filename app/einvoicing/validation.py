"""Running the Peppol validation kit (UBL XSD + EN 16931 + Peppol BIS schematrons).

The kit is not shipped with CreditDesk (its licences do not allow it): it is found at
PEPPOL_VALIDATOR (app config or environment variable CREDITDESK_PEPPOL_VALIDATOR), by default
``../shared/peppol/validate`` beside the checkout. One call validates many documents (the JVM
starts once per stylesheet), so callers pass batches.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_app_context

DEFAULT_KIT = Path(__file__).resolve().parents[2].parent / "shared" / "peppol" / "validate"
TIMEOUT_SECONDS = 300


class ValidatorUnavailable(RuntimeError):
    """The kit or its toolchain (java, Saxon) is missing or crashed: nothing was checked."""


@dataclass
class Result:
    valid: bool
    failed_rules: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  # fatal first, then warnings


def validator_path() -> Path:
    configured = (current_app.config.get("PEPPOL_VALIDATOR") if has_app_context() else None) \
        or os.environ.get("CREDITDESK_PEPPOL_VALIDATOR")
    return Path(configured) if configured else DEFAULT_KIT


def validate_documents(documents: list[bytes]) -> list[Result]:
    """One Result per document, in order. Raises ValidatorUnavailable when nothing was checked."""
    if not documents:
        return []
    kit = validator_path()
    if not kit.is_file():
        raise ValidatorUnavailable(f"Peppol validation kit not found at {kit}")
    with tempfile.TemporaryDirectory(prefix="peppol-") as folder:
        paths = []
        for index, document in enumerate(documents):
            path = Path(folder) / f"doc-{index:05d}.xml"
            path.write_bytes(document)
            paths.append(str(path))
        command = [str(kit), "--json", *paths]
        if not os.access(kit, os.X_OK):
            command = ["python3", *command]
        try:
            run = subprocess.run(command, capture_output=True, text=True,
                                 timeout=TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValidatorUnavailable(str(exc)) from exc
        if run.returncode not in (0, 1):
            raise ValidatorUnavailable((run.stderr or run.stdout).strip()[:500])
        try:
            report = {Path(f["file"]).name: f for f in json.loads(run.stdout)["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidatorUnavailable(f"unreadable validator output: {exc}") from exc
    return [_result(report.get(Path(path).name)) for path in paths]


def _result(entry: dict | None) -> Result:
    if entry is None:
        raise ValidatorUnavailable("the validator did not report on every document")
    findings = sorted(entry.get("findings") or [], key=lambda f: f.get("flag") != "fatal")
    failed = []
    for finding in findings:
        if finding.get("flag") == "fatal" and finding.get("id") not in failed:
            failed.append(finding.get("id"))
    if entry.get("tool_errors") and not failed:
        raise ValidatorUnavailable("; ".join(map(str, entry["tool_errors"]))[:500])
    return Result(valid=bool(entry.get("valid")) and not failed, failed_rules=failed,
                  findings=[{k: f.get(k) for k in ("flag", "id", "text", "location")}
                            for f in findings[:50]])


def validate_document(document: bytes) -> Result:
    return validate_documents([document])[0]
