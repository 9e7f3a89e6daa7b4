"""REST API for the ERP (and later for customers' own software)."""
from __future__ import annotations

from flask_appbuilder import AppBuilder


def register(appbuilder: AppBuilder) -> None:
    """Registers the API views on the AppBuilder (filled in by the API module)."""
