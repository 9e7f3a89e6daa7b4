"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30 s), as every
authenticator app computes them; the secret is stored encrypted (StaffTotp.secret)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

DIGITS = 6
PERIOD = 30
# One step either side: a phone clock a little off, or a code typed as it changed.
DRIFT_STEPS = 1


def generate_secret() -> str:
    """A 160-bit secret in base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def code_at(secret: str, step: int) -> str:
    """RFC 4226 HOTP for counter `step` (RFC 6238: step = unix time // 30)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10 ** DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // PERIOD)


def matching_step(secret: str, code: str | None, now: float | None = None,
                  after_step: int | None = None) -> int | None:
    """The time step whose code this is (within the drift), or None.

    Steps up to `after_step` are refused: a code that was accepted once is not accepted again.
    """
    code = "".join((code or "").split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if after_step is not None and candidate <= after_step:
            continue
        if hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI that authenticator apps read from the QR code."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": PERIOD})
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code, drawn here (no external service sees the secret)."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
