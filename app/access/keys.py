"""API keys as values: their form, their hash, where a request carries one. No I/O."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "wk_"  # recognisable in logs and by secret scanners
SHOWN_CHARS = 10  # of a key, what listings show (the prefix and 7 random characters)


def new_key() -> str:
    """256 random bits, URL-safe: ``wk_`` and 43 characters."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def shown(key: str) -> str:
    return key[:SHOWN_CHARS]


def key_of(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key a request sends: ``Authorization: Bearer KEY`` or ``X-Api-Key: KEY``."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    return None
