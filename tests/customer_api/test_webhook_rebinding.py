"""A webhook delivery connects to the address the SSRF check approved, never to a second DNS
answer (DNS rebinding): a host that resolves to a public address for the check and to an
internal one a moment later must not make our server post inside our own network.

The test's DNS answers differently to the check (127.0.0.1, "the approved address") and to
anybody else (127.0.0.2, "the internal address"); a receiver listens on each. Loopback
addresses stand for both because a test cannot reach a public one: private targets are
allowed in tests, which is what lets the check approve 127.0.0.1 at all."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from app.core.plugins import get_plugin, plugin_config
from app.customer_api import targets, webhooks
from app.customer_api.models import WebhookAttempt
from app.extensions import db
from tests.customer_api.receiver import receiver

HOST = "hooks.rebind.test"
APPROVED, INTERNAL = "127.0.0.1", "127.0.0.2"


@pytest.fixture(autouse=True)
def webhook_plugin(app):
    plugin_config(get_plugin("webhook")).enabled = True
    db.session.commit()


def _rebinding(monkeypatch, approved: str) -> dict[str, int]:
    """HOST resolves to ``approved`` for the SSRF check and to INTERNAL for everybody else."""
    real = socket.getaddrinfo
    asked = {"check": 0, "others": 0}

    def answer(address, who):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET

        def getaddrinfo(host, port, *args, **kwargs):
            if host != HOST:
                return real(host, port, *args, **kwargs)
            asked[who] += 1
            where = (address, int(port or 0), 0, 0) if ":" in address else (address, int(port or 0))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", where)]
        return getaddrinfo

    monkeypatch.setattr(socket, "getaddrinfo", answer(INTERNAL, "others"))
    monkeypatch.setattr(targets, "socket", SimpleNamespace(
        getaddrinfo=answer(approved, "check"), IPPROTO_TCP=socket.IPPROTO_TCP))
    return asked


@pytest.fixture
def rebinding_dns(monkeypatch):
    return _rebinding(monkeypatch, APPROVED)


def _have_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def _deliver_test_event(api, url):
    endpoint, _secret = webhooks.add_endpoint(api.customer, url, ["test", "payment.received"])
    db.session.commit()
    webhooks.send_test_event(endpoint)
    db.session.commit()  # the outbox delivers after the commit
    return db.session.scalar(select(WebhookAttempt).where(
        WebhookAttempt.endpoint_id == endpoint.id))


def test_delivery_goes_to_the_checked_address_not_to_a_new_dns_answer(api, rebinding_dns):
    with receiver(APPROVED) as approved, receiver(INTERNAL, approved.port) as internal:
        attempt = _deliver_test_event(api, f"http://{HOST}:{approved.port}/hook")
        assert attempt.ok and attempt.status_code == 200
        assert len(approved.received) == 1 and internal.received == []
        headers, _body = approved.received[0]
        assert headers["host"] == f"{HOST}:{approved.port}"  # the receiver sees its own name
    assert rebinding_dns["check"] >= 2  # at subscription and again before the delivery
    assert rebinding_dns["others"] == 0


@pytest.mark.skipif(not _have_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_checked_address_is_pinned_too(api, monkeypatch):
    asked = _rebinding(monkeypatch, "::1")
    with receiver("::1") as approved, receiver(INTERNAL, approved.port) as internal:
        attempt = _deliver_test_event(api, f"http://{HOST}:{approved.port}/hook")
        assert attempt.ok and attempt.status_code == 200
        assert len(approved.received) == 1 and internal.received == []
        assert approved.received[0][0]["host"] == f"{HOST}:{approved.port}"
    assert asked["others"] == 0


def _certificate(tmp_path, name: str) -> tuple[ssl.SSLContext, str]:
    """A self-signed certificate for ``name``: a TLS context for the receiver, and the file
    the sender trusts (REQUESTS_CA_BUNDLE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


def test_https_delivery_to_the_checked_address_still_verifies_the_host_name(
        api, rebinding_dns, tmp_path, monkeypatch):
    context, trusted = _certificate(tmp_path, HOST)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", trusted)
    with receiver(APPROVED, tls=context) as approved:
        attempt = _deliver_test_event(api, f"https://{HOST}:{approved.port}/hook")
        assert attempt.ok and attempt.status_code == 200
        assert len(approved.received) == 1
    assert rebinding_dns["others"] == 0


def test_https_delivery_refuses_a_certificate_for_another_name(
        api, rebinding_dns, tmp_path, monkeypatch):
    context, trusted = _certificate(tmp_path, "someone-else.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", trusted)
    with receiver(APPROVED, tls=context) as approved:
        attempt = _deliver_test_event(api, f"https://{HOST}:{approved.port}/hook")
        assert not attempt.ok and attempt.status_code is None
        assert "SSLError" in attempt.error
        assert approved.received == []


def test_a_connection_to_an_address_nobody_checked_is_refused():
    http = targets.PinnedHttp()
    try:
        unchecked = targets.Target(f"http://{HOST}:9/hook", HOST, 9, APPROVED)
        http._adapter.pins.clear()
        with pytest.raises(Exception, match="was not checked"):
            http._session.post(unchecked.url, data=b"{}", timeout=2)  # not through post()
    finally:
        http.close()
