"""My details, refund bank account, SEPA direct-debit mandate, preferences."""
from __future__ import annotations

from app.portal import bp  # noqa: F401
