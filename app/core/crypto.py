"""Encryption at rest for personal identifiers (IBANs, national numbers), and keyed lookup hashes.

* ``EncryptedString``: a column type that stores Fernet tokens (AES-128-CBC + HMAC-SHA256) and
  gives back plain text. The keys come from ``CREDITDESK_ENCRYPTION_KEY`` (config
  ``ENCRYPTION_KEYS``): several keys separated by commas rotate, the first encrypts and every one
  decrypts (``MultiFernet``); ``reencrypt()`` moves a value to the first key.
* Ciphertext is random (a new IV each time), so SQL cannot compare it: such columns refuse
  ``==``/``IN``/``LIKE``. Searching goes through a keyed hash column instead (HMAC-SHA256 of the
  normalised value with ``CREDITDESK_LOOKUP_KEY``), e.g. ``BankAccount.iban_hash``.
* The lookup key must stay the same for the hashes to keep working. When it is not set, it is
  derived from the *last* (oldest) encryption key, which rotation keeps at the end of the list.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import String
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with the version byte and a timestamp
# A 34-character IBAN becomes a 140-character token; columns are widened to this.
CIPHERTEXT_LENGTH = 255


class CryptoConfigError(RuntimeError):
    """The encryption keys are missing or malformed (an operator's error, not a user's)."""


def parse_keys(value: str | list[str] | tuple[str, ...] | None) -> list[bytes]:
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip().encode() for item in items if item and item.strip()]


def _keys_state() -> dict:
    """The Fernet and lookup key of the current app, built once per app (and per key change)."""
    app = current_app._get_current_object()
    raw = app.config.get("ENCRYPTION_KEYS")
    lookup = app.config.get("LOOKUP_KEY")
    state = app.extensions.get("creditdesk_crypto")
    if state is None or state["source"] != (raw, lookup):
        state = app.extensions["creditdesk_crypto"] = build_state(raw, lookup)
    return state


def build_state(raw: str | list[str] | None, lookup: str | None) -> dict:
    """{"fernet": MultiFernet, "lookup": bytes} from the configured keys (used by migrations)."""
    keys = parse_keys(raw)
    if not keys:
        raise CryptoConfigError("ENCRYPTION_KEYS / CREDITDESK_ENCRYPTION_KEY is not set")
    try:
        fernet = MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise CryptoConfigError("CREDITDESK_ENCRYPTION_KEY: each key must be 32 url-safe "
                                "base64-encoded bytes (Fernet.generate_key())") from exc
    lookup_key = (lookup.encode() if lookup else
                  hmac.new(keys[-1], b"creditdesk lookup hash v1", hashlib.sha256).digest())
    return {"source": (raw, lookup), "fernet": fernet, "lookup": lookup_key}


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(value: str) -> str:
    return _keys_state()["fernet"].encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _keys_state()["fernet"].decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CryptoConfigError("a value cannot be decrypted with the configured "
                                "CREDITDESK_ENCRYPTION_KEY (wrong or removed key)") from exc


def is_token(value: str | None) -> bool:
    return bool(value) and value.startswith(FERNET_PREFIX)


def reencrypt(token: str) -> str:
    """The same value under the first (current) key: for rotation."""
    return _keys_state()["fernet"].rotate(token.encode()).decode()


def lookup_hash(normalised: str) -> str:
    """HMAC-SHA256 (hex) of an already normalised value, with the lookup key."""
    return hmac.new(_keys_state()["lookup"], normalised.encode(), hashlib.sha256).hexdigest()


def normalise_iban(value: str | None) -> str:
    """What two spellings of one IBAN have in common: no spaces or dots, upper case."""
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()


def iban_hash(value: str | None) -> str | None:
    normalised = normalise_iban(value)
    return lookup_hash(normalised) if normalised else None


# Comparisons SQL would silently get wrong on ciphertext (a new IV every time).
_REFUSED = {operators.eq, operators.ne, operators.in_op, operators.not_in_op, operators.like_op,
            operators.ilike_op, operators.not_like_op, operators.not_ilike_op,
            operators.contains_op, operators.startswith_op, operators.endswith_op,
            operators.between_op, operators.lt, operators.le, operators.gt, operators.ge}


class EncryptedString(TypeDecorator):
    """Plain text in Python, a Fernet token in the database.

    Rows written before encryption was switched on (plain text, not a token) are still read,
    as they are, until the migration or ``flask creditdesk reencrypt`` has encrypted them.
    """

    impl = String(CIPHERTEXT_LENGTH)
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator):
        def operate(self, op, *other, **kwargs):
            if op in _REFUSED:
                raise TypeError("encrypted column: compare its keyed hash column instead "
                                "(e.g. BankAccount.iban_hash, find_bank_accounts_by_iban)")
            return super().operate(op, *other, **kwargs)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(str(value))

    def process_result_value(self, value, dialect):
        if value is None or not is_token(value):
            return value
        return decrypt(value)
