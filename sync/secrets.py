"""Secrets at rest: sealed with a key derived from ``CALSYNC_SECRET_KEY`` (Fernet: AES-CBC + HMAC).

Sealed values are opaque text for the database; they are never shown back to anyone. Changing the secret
key makes existing sealed values unreadable (`SecretError`), which is the point of rotating it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretError(Exception):
    """A sealed value cannot be opened with this secret key."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"calsync-secrets\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(value: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(value.encode()).decode()


def unseal(token: str, secret_key: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretError("a stored secret cannot be read: was CALSYNC_SECRET_KEY changed?") from None
