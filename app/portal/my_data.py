"""GDPR self-service: download everything held about me, ask for erasure."""
from __future__ import annotations

from app.portal import bp  # noqa: F401
