"""Fixtures for the customer self-service rules: the shipped message templates."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def message_templates(app, _clean_database):
    from app.notifications.defaults import install_defaults

    install_defaults()
