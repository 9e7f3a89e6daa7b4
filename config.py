"""Configuration read from environment variables.

The embedded default (no variables set) runs on a SQLite file under ``instance/`` with an
in-process job runner; setting DATABASE_URL and REDIS_URL switches to PostgreSQL and RQ.
"""
from __future__ import annotations

import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_PATH = Path(os.environ.get("CREDITDESK_INSTANCE_DIR", BASE_DIR / "instance"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment; on the embedded default, one generated once per instance.

    Production must set SECRET_KEY; a key generated into instance/ keeps sessions valid across
    restarts of `python run.py` without anything secret living in the repository.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    key_file = INSTANCE_PATH / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _instance_key(env: str, file_name: str, make) -> str:
    """A key from the environment; on the embedded default, one generated once into instance/."""
    key = os.environ.get(env)
    if key:
        return key
    INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
    key_file = INSTANCE_PATH / file_name
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(make())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _fernet_key() -> str:
    # The format of cryptography's Fernet.generate_key(): 32 random bytes, url-safe base64.
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{INSTANCE_PATH / 'creditdesk.db'}"
    # Heroku-style and plain postgres URLs select the psycopg 3 driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    APP_NAME = "CreditDesk"
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "")
    # Jobs run in-process (a background thread) when there is no Redis; "sync" runs them inline.
    JOBS_MODE = os.environ.get("JOBS_MODE", "rq" if os.environ.get("REDIS_URL") else "thread")
    INSTANCE_DIR = str(INSTANCE_PATH)
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_PATH / "uploads"))
    # Where uploaded and generated files live (app/core/storage): empty = UPLOAD_DIR on this
    # host; file:///shared/folder or s3://bucket/prefix?endpoint=... for several hosts.
    STORAGE_URL = os.environ.get("STORAGE_URL", "").strip()
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_MB", "20")) * 1024 * 1024
    # Encryption at rest (app/core/crypto.py): comma-separated Fernet keys, the first encrypts.
    ENCRYPTION_KEYS = _instance_key("CREDITDESK_ENCRYPTION_KEY", "encryption_key", _fernet_key)
    # Key of the IBAN lookup hashes; unset: derived from the last (oldest) encryption key.
    LOOKUP_KEY = os.environ.get("CREDITDESK_LOOKUP_KEY") or None
    # Behind a reverse proxy: how many proxies' X-Forwarded-For/-Proto/-Host to trust (werkzeug
    # ProxyFix, in create_app): the client IP for sign-in limits, mandate evidence and the audit
    # trail, and HTTPS for the Secure session cookie. 0: no proxy, the headers are ignored.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    # Every link in a message is built from PUBLIC_URL, never from a request's Host header
    # (app/core/links.py). Required in production (DATABASE_URL or REDIS_URL set): the web
    # process refuses to start without it. It also makes TRUSTED_HOSTS: requests for any other
    # host than PUBLIC_URL's and those listed in TRUSTED_HOSTS (comma-separated) get a 400.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "").strip()
    PUBLIC_URL_REQUIRED = _env_bool(
        "PUBLIC_URL_REQUIRED", bool(os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL")))
    TRUSTED_HOSTS_EXTRA = [h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",")
                           if h.strip()]

    # --- Flask-AppBuilder -------------------------------------------------------------
    FAB_API_SWAGGER_UI = False  # the Swagger UI loads assets from a CDN; the JSON spec stays
    # POST /api/v1/security/login (always on) gives the ERP user a JWT. The security CRUD APIs
    # stay off: staff manage users in the admin screens.
    FAB_ADD_SECURITY_API = False
    # API keys (prefix cdk_) for the ERP's technical user: `flask creditdesk api-key create`.
    FAB_API_KEY_ENABLED = _env_bool("FAB_API_KEY_ENABLED", True)
    FAB_API_KEY_PREFIXES = ["cdk_"]
    # Permission sync races between gunicorn workers: it runs once, in `flask creditdesk sync-roles`.
    FAB_UPDATE_PERMS = _env_bool("FAB_UPDATE_PERMS", False)
    # The schema belongs to the Alembic migrations, not to FAB's create_all().
    FAB_CREATE_DB = False
    FAB_INDEX_VIEW = "app.backoffice.DashboardIndexView"
    FAB_SECURITY_MANAGER_CLASS = "app.core.security.CreditDeskSecurityManager"
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    # Staff sign-in throttling (app/core/login_throttle.py): FAILED sign-ins per client address
    # and per account, counted in the database (works while Redis is down).
    AUTH_RATE_LIMITED = _env_bool("AUTH_RATE_LIMITED", True)
    AUTH_RATE_LIMIT = os.environ.get("AUTH_RATE_LIMIT", "10 per 5 minute")
    AUTH_RATE_LIMIT_PER_ACCOUNT = os.environ.get("AUTH_RATE_LIMIT_PER_ACCOUNT", "5 per 15 minute")
    # Staff password policy (app/core/passwords.py) and the TOTP second factor, required for
    # Admin and Compliance officer accounts when AUTH_TOTP_REQUIRED is set.
    AUTH_PASSWORD_MIN_LENGTH = max(12, int(os.environ.get("AUTH_PASSWORD_MIN_LENGTH", "12")))
    AUTH_TOTP_REQUIRED = _env_bool("AUTH_TOTP_REQUIRED", False)
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL") or "memory://"
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=int(os.environ.get("JWT_MINUTES", "60")))
    # Every POST/PUT/PATCH/DELETE carries the session's CSRF token (app/core/web_security.py);
    # over HTTPS Flask-WTF also checks that the Referer is this site.
    WTF_CSRF_ENABLED = True
    WTF_CSRF_SSL_STRICT = True
    SESSION_COOKIE_HTTPONLY = True
    # Lax, not Strict: staff and customers share the session cookie, and customers arrive from
    # other sites (the sign-in link in an e-mail, the payment provider's return), which Strict
    # would show signed out. With a token on every state change and none on GET, Lax is the
    # equivalent defence (README, Security). A back office not serving the portal may set Strict.
    SESSION_COOKIE_SAMESITE = os.environ.get("SESSION_COOKIE_SAMESITE", "Lax")
    # True: always Secure. False: Secure whenever the request came over HTTPS (see create_app).
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))

    # --- Languages --------------------------------------------------------------------
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "Europe/Brussels"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "en": {"flag": "gb", "name": "English"},
        "fr": {"flag": "fr", "name": "Français"},
        "nl": {"flag": "nl", "name": "Nederlands"},
    }

    # --- Outbound mail (used by the notifications issue) --------------------------------
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "creditdesk@localhost")

    # --- Demo / first start ------------------------------------------------------------
    SEED_DEMO_DATA = _env_bool("SEED_DEMO_DATA", True)


class TestConfig(Config):
    TESTING = True
    ENCRYPTION_KEYS = "dGVzdC1rZXktZm9yLWNyZWRpdGRlc2stdGVzdHMtMDE="  # fixed, tests only
    LOOKUP_KEY = None
    JOBS_MODE = "sync"
    WTF_CSRF_ENABLED = True
    AUTH_RATE_LIMITED = False
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    SEED_DEMO_DATA = False
    FAB_UPDATE_PERMS = False
    # Links on the embedded default's address; tests that need PUBLIC_URL set it themselves.
    PUBLIC_URL = ""
    PUBLIC_URL_REQUIRED = False
    TRUSTED_HOSTS_EXTRA: list[str] = []
