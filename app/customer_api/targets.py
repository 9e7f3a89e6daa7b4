"""Where a customer's webhook may point: HTTPS on a public address only (no SSRF).

A customer types the URL, and CreditDesk's server posts to it: a URL naming the loopback,
a private network, link-local (cloud metadata at 169.254.169.254) or any reserved range would
let a customer make our server call inside our own network. The host is resolved and every
address it resolves to is checked, at subscription and again before every delivery (DNS can
change). Tests and a LAN demo may allow private targets (CUSTAPI_WEBHOOK_ALLOW_PRIVATE).

A delivery then connects to the address the check approved (``PinnedHttp``), never to a fresh
DNS answer: otherwise a host whose DNS answers a public address to the check and a private one
a moment later (DNS rebinding) would still reach our network. TLS keeps checking the
certificate against the host name. Only when the environment routes the host through a proxy
(HTTPS_PROXY) does the proxy connect, and resolve, in our place.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from flask import current_app
from flask_babel import gettext as _
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy

from app.core.http import EnvironmentSession
from app.core.validation import ValidationError

MAX_URL = 500


@dataclass(frozen=True)
class Target:
    """A webhook URL that passed the check, and the address a delivery connects to."""
    url: str
    host: str
    port: int
    address: str


def _allow_private() -> bool:
    return bool(current_app.config.get("CUSTAPI_WEBHOOK_ALLOW_PRIVATE", False))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


def check_url(url: str | None) -> str:
    """The cleaned URL, or ValidationError({"url": [...]}) with the reason in words."""
    return check_target(url).url


def check_target(url: str | None) -> Target:
    """``check_url``, keeping the approved address to connect to (the first one resolved)."""
    url = url.strip() if isinstance(url, str) else ""
    if not url or len(url) > MAX_URL:
        raise ValidationError({"url": _("Give an address of at most %(max)d characters.",
                                        max=MAX_URL)})
    parts = urlsplit(url)
    allowed = ("https", "http") if _allow_private() else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ValidationError({"url": _("The address must start with https://.")})
    if parts.username or parts.password:
        raise ValidationError({"url": _("The address must not contain a user name or "
                                        "password.")})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        raise ValidationError({"url": _("This address's host name cannot be found.")}) from None
    if not _allow_private() and not all(_public(info[4][0]) for info in infos):
        raise ValidationError({"url": _("This address points to a private or local network: "
                                        "use a public HTTPS address.")})
    if not infos:
        raise ValidationError({"url": _("This address's host name cannot be found.")})
    return Target(url, parts.hostname, port, infos[0][4][0])


class _PinnedAdapter(HTTPAdapter):
    """Opens connections to the checked address of a request's host, whatever DNS says now."""

    def __init__(self) -> None:
        super().__init__()
        self.pins: dict[tuple[str, int], str] = {}  # (host, port) -> checked address

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        if select_proxy(request.url, proxies):  # the proxy connects in our place
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request, verify, cert)
        scheme, host = host_params["scheme"], host_params["host"]
        port = host_params["port"] or (443 if scheme == "https" else 80)
        address = self.pins.get((host, port))
        if address is None:  # never a connection to an address nobody checked
            raise requests.ConnectionError(f"{host}:{port} was not checked before sending")
        if scheme == "https":  # SNI and the certificate are about the name, not the address
            pool_kwargs = {**pool_kwargs, "server_hostname": host, "assert_hostname": host}
        return self.poolmanager.connection_from_host(address, port, scheme, pool_kwargs)


class PinnedHttp:
    """A keep-alive HTTP client for webhook deliveries that only goes to checked addresses."""

    def __init__(self) -> None:
        self._adapter = _PinnedAdapter()
        self._session = EnvironmentSession()
        self._session.mount("https://", self._adapter)
        self._session.mount("http://", self._adapter)

    def post(self, target: Target, **kwargs) -> requests.Response:
        self._adapter.pins[(target.host, target.port)] = target.address
        # The Host header names the host (the connection goes to its checked address).
        headers = {**(kwargs.pop("headers", None) or {}), "Host": urlsplit(target.url).netloc}
        return self._session.post(target.url, headers=headers, **kwargs)

    def close(self) -> None:
        self._session.close()
