"""Request tests: ``message_templates`` installs the shipped message templates, so
acknowledgements and answers are queued (modules opt in with pytestmark)."""
from __future__ import annotations

import pytest


@pytest.fixture
def message_templates(app):
    from app.notifications.defaults import install_defaults

    install_defaults()
