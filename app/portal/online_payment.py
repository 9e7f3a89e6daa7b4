"""Pay online through a payment-provider plugin: checkout, return, webhook."""
from __future__ import annotations

from app.portal import bp  # noqa: F401
