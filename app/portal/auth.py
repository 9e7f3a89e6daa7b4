"""Customer sign-in for the portal: magic links, the portal session, deep links from messages.

How it fits together
--------------------
* A person types an e-mail address. Whether or not it belongs to a portal contact, the answer is
  the same page, and the work (finding the customer, creating the link, queueing the e-mail)
  runs as a background job, so that not even the response time tells known and unknown apart.
  Attempts are limited per IP address and per e-mail address (``limits``, the library under
  Flask-Limiter, with its own counters so that staff login limits and test settings stay apart).
* A magic link is ``/portal/login/<signed token>``: a random token, signed with SECRET_KEY
  (itsdangerous) so garbage is refused without touching the database, stored only as its
  SHA-256 (PortalAccess kind "magic_link"), valid 15 minutes and used once. Opening it shows a
  "Continue" button; the POST spends the token. E-mail scanners that pre-fetch links (GET) do
  not burn it.
* The portal session is a second random token kept in Flask's signed cookie session under its
  own key (never Flask-Login: FAB owns that for staff) and a PortalAccess row of kind "session"
  whose ``expires_at`` slides with activity (idle timeout) and whose ``used_at`` marks logout.
  A copied cookie stops working at logout or after the idle time, because the row decides.
* ``app.core.links.portal_link(customer, path)`` is what notifications and dunning put in their
  messages: a long-lived link (kind "deep_link") that does NOT sign anyone in. It opens a page
  (here: find_deep_link) that offers to e-mail a fresh magic link to the address on file; that
  magic link opens ``path``. Tokens and the PortalAccess table live in app/core/portal_access.py,
  below the packages that send links.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

import flask_babel
from flask import current_app, g, redirect, request, session, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse as parse_limit
from limits import storage as limit_storage
from limits import strategies
from sqlalchemy import String, bindparam, func, select, update

from app.core.links import portal_path
from app.core.models import utcnow
from app.core.portal_access import PortalAccess, hash_token, new_token, safe_target
from app.customers.models import Contact, Customer
from app.extensions import db

log = logging.getLogger(__name__)

SESSION_KEY = "portal_session"      # the raw session token, in Flask's signed cookie
MAGIC_LINK_MINUTES = 15
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_CUSTOMERS_PER_ADDRESS = 5        # an accountant may handle several customers
_SIGNER_SALT = "creditdesk.portal.magic-link"

# Defaults for the settings the lead may put in config.py (read with .get, so none is required).
DEFAULTS = {
    "PORTAL_IDLE_MINUTES": 30,
    "PORTAL_SESSION_MAX_HOURS": 12,
    "PORTAL_LOGIN_LIMIT_PER_IP": "20 per hour",
    "PORTAL_LOGIN_LIMIT_PER_ADDRESS": "5 per hour",
    "PORTAL_RATELIMIT_ENABLED": True,
}


def setting(name: str) -> Any:
    value = current_app.config.get(name)
    return DEFAULTS[name] if value is None else value


# --- tokens -----------------------------------------------------------------------------------

def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SIGNER_SALT)


def sign(raw: str) -> str:
    return _signer().dumps(raw)


def unsign(signed: str) -> str | None:
    """The raw token if the signature is ours and younger than the link's lifetime."""
    try:
        raw = _signer().loads(signed, max_age=MAGIC_LINK_MINUTES * 60 + 60)
    except (BadSignature, SignatureExpired):
        return None
    return raw if isinstance(raw, str) else None


def normalise_email(value: str | None) -> str:
    return (value or "").strip().lower()


# --- who may sign in --------------------------------------------------------------------------

def login_identities(email: str) -> list[tuple[Customer, Contact | None]]:
    """(customer, contact) pairs this address may sign in as.

    A contact with portal access and that address, or the customer's own address. Anonymised
    customers never sign in.
    """
    email = normalise_email(email)
    if not EMAIL.match(email):
        return []
    found: dict[int, tuple[Customer, Contact | None]] = {}
    contacts = db.session.execute(
        select(Contact, Customer).join(Customer, Customer.id == Contact.customer_id).where(
            func.lower(Contact.email) == email, Contact.portal_access.is_(True),
            Customer.anonymised_at.is_(None)).order_by(Customer.id).limit(MAX_CUSTOMERS_PER_ADDRESS))
    for contact, customer in contacts:
        found.setdefault(customer.id, (customer, contact))
    for customer in db.session.scalars(
        select(Customer).where(func.lower(Customer.email) == email,
                               Customer.anonymised_at.is_(None))
        .order_by(Customer.id).limit(MAX_CUSTOMERS_PER_ADDRESS)
    ):
        found.setdefault(customer.id, (customer, None))
    return list(found.values())[:MAX_CUSTOMERS_PER_ADDRESS]


def login_email(customer: Customer, contact: Contact | None = None) -> str | None:
    """The address a sign-in link for this customer (or contact) goes to."""
    if contact is not None and contact.email and contact.portal_access:
        return contact.email
    if customer.email:
        return customer.email
    portal_contact = next((c for c in customer.contacts if c.portal_access and c.email), None)
    return portal_contact.email if portal_contact else None


# --- rate limits ------------------------------------------------------------------------------

def _limiter() -> strategies.MovingWindowRateLimiter:
    state = current_app.extensions.get("creditdesk_portal_limiter")
    if state is None:
        uri = (current_app.config.get("PORTAL_RATELIMIT_STORAGE_URI")
               or current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
        state = strategies.MovingWindowRateLimiter(limit_storage.storage_from_string(uri))
        current_app.extensions["creditdesk_portal_limiter"] = state
    return state


def _fallback_limiter() -> strategies.MovingWindowRateLimiter:
    """Counters in this process, used while the shared store (Redis) is unreachable."""
    state = current_app.extensions.get("creditdesk_portal_limiter_fallback")
    if state is None:
        state = strategies.MovingWindowRateLimiter(limit_storage.MemoryStorage())
        current_app.extensions["creditdesk_portal_limiter_fallback"] = state
    return state


def reset_rate_limits() -> None:
    """Forget every counter (tests, or staff unblocking after an incident)."""
    current_app.extensions.pop("creditdesk_portal_limiter", None)
    current_app.extensions.pop("creditdesk_portal_limiter_fallback", None)


def _hit(limiter: strategies.MovingWindowRateLimiter, ip: str | None, email: str) -> bool:
    ip_ok = limiter.hit(parse_limit(setting("PORTAL_LOGIN_LIMIT_PER_IP")),
                        "portal-login-ip", ip or "unknown")
    address_ok = limiter.hit(parse_limit(setting("PORTAL_LOGIN_LIMIT_PER_ADDRESS")),
                             "portal-login-address", hash_token(normalise_email(email)))
    return ip_ok and address_ok


def allow_login_attempt(ip: str | None, email: str) -> bool:
    """Count one attempt for the IP and for the address; False when either is over its limit.

    Unknown and known addresses are counted alike, so a refusal reveals nothing. When the
    shared counter store (Redis) is down, the limits still hold, counted in this process: the
    sign-in form keeps working (never a 500) and is still not an open door.
    """
    if not setting("PORTAL_RATELIMIT_ENABLED"):
        return True
    try:
        return _hit(_limiter(), ip, email)
    except Exception:
        log.warning("portal rate limiter store unavailable; counting in this process",
                    exc_info=True)
        return _hit(_fallback_limiter(), ip, email)


# --- magic links ------------------------------------------------------------------------------

def base_url() -> str:
    """Where the portal is reached from outside: app.core.links, never the request's Host."""
    from app.core.links import public_base

    return public_base()


def login_url(raw: str) -> str:
    """The absolute sign-in link for a raw magic-link token."""
    return base_url() + portal_path("confirm_login", token=sign(raw))


def request_login_link(email: str, target: str | None, language: str) -> None:
    """Queue the sign-in e-mail(s) for whoever owns ``email``; known or not, nothing shows.

    The work runs as a job (the response time tells nothing). When the queue is down the job
    runs here instead, so that the sign-in e-mail is in the outbox (committed) before the page
    says it was sent; its delivery then waits for the queue or the sweep.
    """
    args = (normalise_email(email), safe_target(target), request.remote_addr, language)
    _enqueue_or_run("app.portal.auth.send_login_links", send_login_links, args)


def request_deep_link_login(access_id: int, language: str) -> None:
    """The same for a deep link's "e-mail me a sign-in link" button."""
    args = (access_id, request.remote_addr, language)
    _enqueue_or_run("app.portal.auth.send_deep_link_login", send_deep_link_login, args)


def _enqueue_or_run(path: str, job: Callable, args: tuple) -> None:
    """Queue the job; when the queue (Redis) refuses it, run it here, so that its message is
    in the outbox, committed, before the page says it was sent. (In the other job modes
    enqueue() runs the job itself: a failure there is the job's, and is not run twice.)"""
    from app.jobs import enqueue

    try:
        enqueue(path, *args)
    except Exception:
        if current_app.config.get("JOBS_MODE") != "rq":
            raise
        log.warning("job queue unavailable: %s runs in the request", path, exc_info=True)
        db.session.rollback()
        job(*args)


def send_login_links(email: str, target: str | None, ip: str | None, language: str,
                     site: str | None = None) -> int:
    """Job: create a magic link per customer this address may sign in as, and queue the e-mail.

    Returns how many links were made (0 for an unknown address: nothing is sent, nothing kept).
    ``site`` is ignored (jobs queued by older versions pass the request's address): links are
    built from the public base address only.
    """
    made = 0
    for customer, contact in login_identities(email):
        raw = create_magic_link(customer, contact, target, ip)
        from app.portal.mail import send_magic_link

        send_magic_link(customer, contact, email, login_url(raw), language, MAGIC_LINK_MINUTES)
        made += 1
    db.session.commit()
    return made


def send_deep_link_login(access_id: int, ip: str | None, language: str,
                         site: str | None = None) -> bool:
    """Job: e-mail a magic link that opens a deep link's page, to the address on file."""
    access = db.session.get(PortalAccess, access_id)
    if access is None or access.kind != "deep_link" or access.expires_at <= utcnow():
        return False
    customer = db.session.get(Customer, access.customer_id)
    contact = db.session.get(Contact, access.contact_id) if access.contact_id else None
    email = login_email(customer, contact) if customer and customer.anonymised_at is None else None
    if not email:
        return False
    raw = create_magic_link(customer, contact, access.target, ip)
    from app.portal.mail import send_magic_link

    send_magic_link(customer, contact, email, login_url(raw), language, MAGIC_LINK_MINUTES)
    db.session.commit()
    return True


def create_magic_link(customer: Customer, contact: Contact | None, target: str | None,
                      ip: str | None) -> str:
    """A new single-use token for ``customer`` (the caller commits); returns the raw token."""
    raw = new_token()
    db.session.add(PortalAccess(
        customer_id=customer.id, contact_id=contact.id if contact else None, kind="magic_link",
        token_hash=hash_token(raw), target=safe_target(target),
        expires_at=utcnow() + timedelta(minutes=MAGIC_LINK_MINUTES), ip=(ip or "")[:45] or None))
    db.session.flush()
    return raw


def find_magic_link(signed: str) -> PortalAccess | None:
    """The unused, unexpired magic link behind a signed token, else None."""
    raw = unsign(signed)
    if raw is None:
        return None
    access = db.session.scalar(select(PortalAccess).where(
        PortalAccess.token_hash == hash_token(raw), PortalAccess.kind == "magic_link"))
    if access is None or access.used_at is not None or access.expires_at <= utcnow():
        return None
    return access


def spend_magic_link(signed: str) -> PortalAccess | None:
    """Mark the link used, exactly once even under concurrent clicks; None if it can't be."""
    access = find_magic_link(signed)
    if access is None:
        return None
    now = utcnow()
    spent = db.session.execute(
        update(PortalAccess)
        .where(PortalAccess.id == access.id, PortalAccess.used_at.is_(None),
               PortalAccess.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        db.session.rollback()
        return None
    db.session.refresh(access)
    return access


# --- the portal session -----------------------------------------------------------------------

def start_session(access: PortalAccess) -> None:
    """Sign the customer in (after a spent magic link); the caller commits."""
    raw = new_token()
    now = utcnow()
    db.session.add(PortalAccess(
        customer_id=access.customer_id, contact_id=access.contact_id, kind="session",
        token_hash=hash_token(raw), created_at=now,
        expires_at=now + timedelta(minutes=int(setting("PORTAL_IDLE_MINUTES"))),
        ip=(request.remote_addr or "")[:45] or None))
    session[SESSION_KEY] = raw
    # A new CSRF token for the signed-in session: one planted or seen before sign-in (session
    # fixation) is worthless after it.
    session.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    g.pop("csrf_token", None)


def end_session() -> None:
    """Log out: the session row is closed, so even a copy of the cookie is worthless."""
    raw = session.pop(SESSION_KEY, None)
    if raw:
        db.session.execute(
            update(PortalAccess)
            .where(PortalAccess.token_hash == hash_token(raw), PortalAccess.kind == "session",
                   PortalAccess.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False))
        db.session.commit()
    g.portal_customer = None
    g.portal_contact_id = None


@functools.cache
def _session_query():
    """The signed-in session's row and its customer: on every portal request, so built once
    per process (building the statement cost more than running it)."""
    return (select(PortalAccess, Customer)
            .join(Customer, Customer.id == PortalAccess.customer_id)
            .where(PortalAccess.token_hash == bindparam("token_hash", type_=String),
                   PortalAccess.kind == "session"))


def load_session() -> None:
    """Before each portal request: who is signed in (g.portal_customer), or nobody.

    Also sets g.customer_language so that the customer's language applies unless they chose
    another one with the language switcher.
    """
    g.portal_customer = None
    g.portal_contact_id = None
    g.portal_session_expired = False
    g.pop("customer_language", None)
    # The locale may have been computed before we knew who is signed in (Flask-Babel keeps it
    # on g): recompute it after this function.
    flask_babel.refresh()
    raw = session.get(SESSION_KEY)
    if not raw:
        return
    row = db.session.execute(_session_query(), {"token_hash": hash_token(raw)}).first()
    now = utcnow()
    if row is None:
        session.pop(SESSION_KEY, None)
        return
    access, customer = row
    max_age = timedelta(hours=int(setting("PORTAL_SESSION_MAX_HOURS")))
    if (access.used_at is not None or access.expires_at <= now
            or access.created_at + max_age <= now or customer.anonymised_at is not None):
        session.pop(SESSION_KEY, None)
        g.portal_session_expired = access.used_at is None
        return
    idle = timedelta(minutes=int(setting("PORTAL_IDLE_MINUTES")))
    # Slide the idle deadline, at most once a minute (one small UPDATE, not one per request).
    if access.expires_at - now < idle - timedelta(minutes=1):
        db.session.execute(update(PortalAccess).where(PortalAccess.id == access.id)
                           .values(expires_at=now + idle)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    g.portal_customer = customer
    g.portal_contact_id = access.contact_id
    language = customer.language
    if access.contact_id:
        language = db.session.scalar(select(Contact.language).where(
            Contact.id == access.contact_id)) or language
    g.customer_language = language
    flask_babel.refresh()


def current_customer() -> Customer | None:
    return getattr(g, "portal_customer", None)


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        if current_customer() is None:
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            values = {"next": target} if safe_target(target) else {}
            if getattr(g, "portal_session_expired", False):
                values["expired"] = "1"
            return redirect(url_for("portal.login", **values))
        return view(*args, **kwargs)

    return wrapper


def find_deep_link(raw: str) -> PortalAccess | None:
    if not raw or len(raw) > 100:
        return None
    access = db.session.scalar(select(PortalAccess).where(
        PortalAccess.token_hash == hash_token(raw), PortalAccess.kind == "deep_link"))
    if access is None or access.expires_at <= utcnow():
        return None
    return access

