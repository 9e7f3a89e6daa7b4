"""Inbound test fixtures: a real Dovecot, the IMAP plugin configured for it, replies to send."""
from __future__ import annotations

import pytest

from app.core import plugins as registry
from app.core.models import PluginConfig
from app.extensions import db
from tests.inbound import dovecot as dovecot_server


@pytest.fixture(autouse=True)
def message_templates(app):
    """The shipped templates (the answers to replies among them), as init-db installs them."""
    from app.notifications.defaults import install_defaults

    install_defaults()
    from app.inbound.settings import forget_cached

    forget_cached()


@pytest.fixture(scope="session")
def dovecot():
    if dovecot_server.BINARY is None:
        pytest.skip("the dovecot binary is not installed (apt-get install -y dovecot-imapd)")
    server = dovecot_server.start()
    yield server
    server.stop()


@pytest.fixture
def imap(dovecot):
    dovecot.empty()
    return dovecot


def register_plugin() -> None:
    """The IMAP plugin, found even before pyproject's entry point is installed."""
    from plugins.imap_inbound import plugin

    registry.discover()
    if plugin.name not in (registry._discovered or {}):
        registry._discovered[plugin.name] = plugin


@pytest.fixture
def mailbox_plugin(imap, monkeypatch):
    """The imap_inbound plugin enabled and pointed at the test Dovecot; returns the server."""
    register_plugin()
    settings = imap.settings()
    monkeypatch.setenv("CREDITDESK_PLUGIN_IMAP_INBOUND_PASSWORD", settings.pop("password"))
    row = registry.plugin_config(registry.get_plugin("imap_inbound"))
    row.enabled, row.settings = True, settings
    db.session.commit()
    return imap


def configure_mailbox(**settings) -> None:
    row = db.session.query(PluginConfig).filter_by(name="imap_inbound").one()
    row.settings = {**row.settings, **settings}
    db.session.commit()
