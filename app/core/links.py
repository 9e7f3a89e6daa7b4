"""The one place every absolute link in a message is built: sign-in links, e-mail-change
confirmations, deep links and pay links in reminders, the console's "read it at" lines.

It sits in core, below notifications, dunning, customers and the portal, so every one of them
builds links here without importing another: ``portal_path(endpoint)`` names a portal page by
its endpoint (resolved at run time in the URL map: no import of app.portal), and
``portal_link(customer, path)`` issues the deep link a message carries (a PortalAccess row,
app/core/portal_access.py). While no portal is mounted, portal_path raises BuildError (a
LookupError): callers then fall back to the portal's home address or leave the link out.

A link is never built from the request (its ``Host`` or ``X-Forwarded-Host`` header): anyone
can send a request with ``Host: attacker.example`` and a victim's address, and the victim would
receive a genuine sign-in link to the attacker's site. The base address comes, in this order,
from:

1. ``PUBLIC_URL`` (environment, read in config.py): required in production, where it wins over
   everything else, so that nobody with access to the settings screen can redirect links;
2. the setting "notifications.public_url", when staff stored one (embedded default only);
3. the address ``python run.py`` listens on (its ``--host``/``--port``);
4. ``http://127.0.0.1:5000``, the embedded default's address.

In production (``PUBLIC_URL_REQUIRED``, on when DATABASE_URL or REDIS_URL is set) steps 2-4 do
not apply: without PUBLIC_URL the web process refuses to start and a link cannot be built
(``PublicUrlMissing``). ``init_app`` also derives Flask's ``TRUSTED_HOSTS`` from PUBLIC_URL
(plus the ``TRUSTED_HOSTS`` environment list), so requests for another host get a 400.
"""
from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, current_app, has_request_context, request
from markupsafe import escape

from app.core.models import utcnow
from app.core.portal_access import PortalAccess, hash_token, new_token, safe_target
from app.extensions import db

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:5000"
LISTEN_FILE = "listen_url"  # in the instance folder: run.py's address, for the CLI as well
SETTING = "notifications.public_url"
DEEP_LINK_DAYS = 60  # how long a message's portal link works; config PORTAL_DEEP_LINK_DAYS


class PublicUrlMissing(RuntimeError):
    """Production without PUBLIC_URL: no link may be built from anything else."""

    def __init__(self) -> None:
        super().__init__("PUBLIC_URL is not set: set it to the address customers and staff use "
                         "to reach CreditDesk (e.g. https://credit.example.com). Links in "
                         "messages are never built from a request's Host header.")


def clean_base(value: str | None) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash; "" when not a web address."""
    value = (value or "").strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        return ""
    return value


def listen_url(host: str, port: int) -> str:
    """The address run.py's links use: 0.0.0.0 (all interfaces) is not an address to open."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}"


def remember_listen_url(app: Flask, url: str) -> None:
    """run.py: links use the address it listens on, in this process and in CLI commands."""
    app.config["EMBEDDED_URL"] = url
    try:
        folder = Path(app.config.get("INSTANCE_DIR") or app.instance_path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LISTEN_FILE).write_text(url + "\n")
    except OSError:
        log.warning("could not record the listening address in the instance folder")


def _embedded_url(config: Any) -> str:
    url = clean_base(config.get("EMBEDDED_URL"))
    if url:
        return url
    folder = config.get("INSTANCE_DIR")
    if folder:
        try:
            return clean_base((Path(folder) / LISTEN_FILE).read_text())
        except OSError:
            pass
    return ""


def _stored_setting() -> str:
    from app.core.settings import get_setting, is_customised

    try:
        if is_customised(SETTING):
            return clean_base(str(get_setting(SETTING) or ""))
    except KeyError:  # the notifications settings are not loaded in this process
        pass
    return ""


def public_base() -> str:
    """The base address of every link in a message (see the module docstring)."""
    config = current_app.config
    configured = clean_base(config.get("PUBLIC_URL"))
    if configured:
        return configured
    if config.get("PUBLIC_URL_REQUIRED"):
        raise PublicUrlMissing()
    return _stored_setting() or _embedded_url(config) or DEFAULT_URL


def absolute(path: str = "") -> str:
    """``path`` (e.g. "/portal/") on the public base address."""
    if path and not path.startswith("/"):
        path = "/" + path
    return public_base() + path


def path_for(endpoint: str, **values: Any) -> str:
    """The path of a page, built the same way in a request and in a job (no request data)."""
    return current_app.url_map.bind("localhost", script_name="/").build(endpoint, values)


def portal_path(endpoint: str, **values: Any) -> str:
    """The path of a portal page, built the same way in a request and in a job."""
    if not endpoint.startswith("portal."):
        endpoint = "portal." + endpoint
    return path_for(endpoint, **values)


def portal_link(customer: Any, target_path: str, contact: Any = None,
                valid_days: int | None = None) -> str:
    """An absolute link for a message that opens ``target_path`` after the customer signs in.

    The link itself signs nobody in: it leads to a page that e-mails a fresh 15-minute magic
    link to the customer's address on file, and that link opens ``target_path``. So a
    forwarded or leaked reminder does not open the account. The caller commits (the
    PortalAccess row belongs to the same transaction as the message); the row is only added to
    the session, written by the next flush (nothing needs its id: the link carries the token),
    so a batch of messages writes its links together.

    ``target_path`` is a portal path, e.g. ``portal_path("invoice", invoice_id=7)`` or
    ``portal_path("pay_invoice", invoice_id=7)``; anything else opens the dashboard.
    ``customer`` and ``contact`` are app.customers rows (only their ids are read).
    """
    raw = new_token()
    days = valid_days or int(current_app.config.get("PORTAL_DEEP_LINK_DAYS") or DEEP_LINK_DAYS)
    db.session.add(PortalAccess(
        customer_id=customer.id, contact_id=contact.id if contact else None, kind="deep_link",
        token_hash=hash_token(raw), target=safe_target(target_path) or "/portal/",
        expires_at=utcnow() + timedelta(days=days)))
    return public_base() + portal_path("deep_link", token=raw)


# --- configuration -------------------------------------------------------------------------

def trusted_hosts(config: Any) -> list[str] | None:
    """The hosts requests may be for: PUBLIC_URL's host and the TRUSTED_HOSTS list; None (any
    host) when neither is set, i.e. on the embedded default."""
    extra = config.get("TRUSTED_HOSTS_EXTRA") or []
    if isinstance(extra, str):
        extra = [h.strip() for h in extra.split(",")]
    hosts = [h for h in extra if h]
    base = clean_base(config.get("PUBLIC_URL"))
    if base:
        hosts.insert(0, urlsplit(base).hostname)
    return list(dict.fromkeys(hosts)) or None


def _relative_location(response: Response) -> Response:
    """A redirect to this site never names a host: an absolute Location built from the request
    (e.g. Flask-AppBuilder's "back" from its page history) becomes a path, which the browser
    resolves against the address it really asked. So a forged Host cannot reach a Location,
    nor a cached redirect."""
    location = response.headers.get("Location")
    if not location or not has_request_context():
        return response
    parts = urlsplit(location)
    if parts.netloc and parts.netloc.lower() == request.host.lower():
        relative = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
        response.headers["Location"] = relative
        if not response.is_streamed:  # werkzeug's "Redirecting..." page repeats the address
            response.set_data(response.get_data().replace(
                str(escape(location)).encode(), str(escape(relative)).encode()))
    return response


def init_app(app: Flask) -> None:
    """Check PUBLIC_URL, derive TRUSTED_HOSTS, keep redirects relative (create_app)."""
    app.after_request(_relative_location)
    raw = app.config.get("PUBLIC_URL")
    if raw and not clean_base(raw):
        raise RuntimeError(f"PUBLIC_URL {raw!r} is not a web address like "
                           "https://credit.example.com")
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config)
    if app.config.get("PUBLIC_URL_REQUIRED") and not clean_base(raw):
        log.error(str(PublicUrlMissing()))


def require_public_url(app: Flask) -> None:
    """The production web process (wsgi.py) does not start without PUBLIC_URL."""
    if app.config.get("PUBLIC_URL_REQUIRED") and not clean_base(app.config.get("PUBLIC_URL")):
        raise PublicUrlMissing()
