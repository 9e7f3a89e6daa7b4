"""Invoice actions: deferral (promise to pay), payment plan, dispute."""
from __future__ import annotations

from app.portal import bp  # noqa: F401
