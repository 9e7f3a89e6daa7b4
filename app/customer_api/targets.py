"""Where a customer's webhook may point: HTTPS on a public address only (no SSRF).

A customer types the URL, and CreditDesk's server posts to it: a URL naming the loopback,
a private network, link-local (cloud metadata at 169.254.169.254) or any reserved range would
let a customer make our server call inside our own network. The host is resolved and every
address it resolves to is checked, at subscription and again before every delivery (DNS can
change). Tests and a LAN demo may allow private targets (CUSTAPI_WEBHOOK_ALLOW_PRIVATE).
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _

from app.core.validation import ValidationError

MAX_URL = 500


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
    return url
