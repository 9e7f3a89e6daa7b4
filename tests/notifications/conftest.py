"""Fixtures for the notification tests: a real SMTP server on loopback, plugin settings."""
from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import Message as MimeMessage

import pytest
from aiosmtpd.controller import Controller

from app.core.plugins import get_plugin, plugin_config
from app.extensions import db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Keeps every mail the server accepted; can answer with a chosen SMTP error instead."""

    def __init__(self) -> None:
        self.messages: list[MimeMessage] = []
        self.reply: str | None = None  # e.g. "550 5.1.1 No such user" or "421 Try later"
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reply:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


class SmtpServer:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return self.controller.port

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


def configure_plugin(name: str, enabled: bool = True, **settings) -> None:
    row = plugin_config(get_plugin(name))
    row.enabled = enabled
    row.settings = {**(row.settings or {}), **settings}
    db.session.commit()


@pytest.fixture
def defaults(app):
    from app.notifications.defaults import install_defaults

    install_defaults()


@pytest.fixture
def use_smtp(defaults, smtp_server):
    """E-mail goes through the SMTP plugin to the loopback server."""
    configure_plugin("email_smtp", host="127.0.0.1", port=smtp_server.port, security="none")
    return smtp_server

