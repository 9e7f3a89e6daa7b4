"""IMAPS and STARTTLS for real: Dovecot with a throw-away self-signed certificate (openssl CLI,
made in the test's folder) on loopback ports. The plugin verifies the certificate against the
CA file it is given, refuses a certificate it cannot trust with a clear status, and never sends
the password in clear when STARTTLS is asked for but not offered."""
from __future__ import annotations

import socket
import threading

import pytest

from app.extensions import db
from app.inbound.models import InboundMessage, MailboxState
from app.inbound.polling import mailbox_status, poll
from plugins.imap_inbound.mailbox import ImapMailbox, MailboxError
from tests.inbound import dovecot as dovecot_server
from tests.inbound import mails


@pytest.fixture(scope="module")
def tls_dovecot():
    if dovecot_server.BINARY is None:
        pytest.skip("the dovecot binary is not installed (apt-get install -y dovecot-imapd)")
    server = dovecot_server.start(tls=True)
    yield server
    server.stop()


@pytest.fixture
def tls_imap(tls_dovecot):
    tls_dovecot.empty()
    return tls_dovecot


class Recorder:
    """A loopback TCP relay that keeps every byte the client sends."""

    def __init__(self, port: int) -> None:
        self.target, self.sent = port, bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False),
                             daemon=True).start()

    def _pipe(self, source, sink, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    self.sent.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def mailbox(server, **settings) -> ImapMailbox:
    values = server.settings(ca_file=str(server.ca_file))
    values.update(settings)
    return ImapMailbox(values)


def test_imaps_with_the_servers_ca_reads_the_mailbox(tls_imap):
    tls_imap.append(mails.reply("Hello, invoice F-1 has already been paid.",
                                sender="someone@example.test"))
    box = mailbox(tls_imap, security="ssl", port=tls_imap.tls_port)
    counts = poll(box, "imaps-test")
    assert counts["stored"] == 1 and "error" not in counts
    assert db.session.query(InboundMessage).count() == 1
    assert tls_imap.count("INBOX") == 0


def test_starttls_upgrades_before_the_password_is_sent(tls_imap):
    relay = Recorder(tls_imap.port)
    try:
        box = mailbox(tls_imap, security="starttls", port=relay.port)
        assert box.open() > 0
        box.close()
    finally:
        relay.close()
    assert b"STARTTLS" in bytes(relay.sent)
    assert dovecot_server.PASSWORD.encode() not in bytes(relay.sent)


def test_a_certificate_from_another_ca_is_refused_with_a_clear_status(tls_imap, tmp_path):
    other_ca, _key = dovecot_server.self_signed(tmp_path, "stranger")
    for security, port in (("ssl", tls_imap.tls_port), ("starttls", tls_imap.port)):
        relay = Recorder(port)
        try:
            box = mailbox(tls_imap, security=security, port=relay.port, ca_file=str(other_ca))
            with pytest.raises(MailboxError, match="certificate is not trusted"):
                box.open()
        finally:
            relay.close()
        assert dovecot_server.PASSWORD.encode() not in bytes(relay.sent)
    # Through a poll: the status on the settings screen says why, and nothing was read.
    tls_imap.append(mails.reply("Bonjour", sender="x@example.test"))
    counts = poll(mailbox(tls_imap, security="ssl", port=tls_imap.tls_port,
                          ca_file=str(other_ca)), "imaps-test")
    assert "certificate is not trusted" in counts["error"]
    state = db.session.get(MailboxState, "imaps-test")
    assert "certificate is not trusted" in state.last_error
    shown = " ".join(str(value) for _label, value in mailbox_status("imap_inbound"))
    assert "certificate is not trusted" in shown
    assert tls_imap.count("INBOX") == 1


def test_the_systems_cas_do_not_trust_a_self_signed_server(tls_imap):
    with pytest.raises(MailboxError, match="certificate is not trusted"):
        mailbox(tls_imap, security="ssl", port=tls_imap.tls_port, ca_file="").open()


def test_starttls_asked_but_not_offered_never_sends_the_password(imap):
    """The plain test server (ssl = no) offers no STARTTLS: no fallback to plain text."""
    relay = Recorder(imap.port)
    try:
        box = ImapMailbox(imap.settings(security="starttls", port=relay.port))
        with pytest.raises(MailboxError, match="does not offer STARTTLS"):
            box.open()
    finally:
        relay.close()
    assert dovecot_server.PASSWORD.encode() not in bytes(relay.sent)
    assert b"LOGIN" not in bytes(relay.sent).upper().replace(b"LOGOUT", b"")
