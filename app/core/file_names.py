"""File names that people send us, made safe to show and to offer as a download.

A name is only ever shown or used as a download name (files are stored under random names).
It can still deceive: "../../x", a line break, or a right-to-left override (U+202E) that makes
"invoice<U+202E>fdp.html" display as "invoicelmth.pdf"; and a download named "x.html" opens as
a page in the browser of the person who saves and double-clicks it.
"""
from __future__ import annotations

import re
import unicodedata

MAX_NAME = 150
# Characters a file name never needs: path and shell punctuation Windows refuses in names.
_UNSAFE = re.compile(r'[<>:"|?*]')


def clean_file_name(name: str | None, extension: str = "") -> str:
    """A name a person may see and a browser may save: the last path part only; no control,
    format (bidi overrides U+202A-U+202E, isolates U+2066-U+2069, marks U+200E/U+200F,
    zero-width) or line-separator characters; with ``extension`` (what the file really is)
    as its only extension. Kept for display and download, never for storage."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp",
                                                                      "Co", "Cs", "Cn"))
    base = _UNSAFE.sub("_", base).strip().strip(".").strip()
    if extension:
        stem = base.rsplit(".", 1)[0] if "." in base else base
        stem = stem.strip().strip(".").strip()[:MAX_NAME - len(extension) - 1]
        return f"{stem or 'attachment'}.{extension}"
    return base[:MAX_NAME] or "attachment"
