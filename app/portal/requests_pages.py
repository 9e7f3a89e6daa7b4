"""My requests: list, detail, question to the AR team, satisfaction survey."""
from __future__ import annotations

from app.portal import bp  # noqa: F401
