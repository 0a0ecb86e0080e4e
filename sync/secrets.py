"""Secrets at rest: JSON sealed with Fernet (AES-CBC + HMAC) under a key derived with HKDF-SHA256 from
``CALSYNC_SECRET_KEY``. Used for stored connections (``sync.connections``) and per-mailbox Exchange logins
(``sync.mailboxes``). Sealed values are opaque text for the database and are never shown back to anyone;
changing the secret key makes them unreadable (`SecretError`), which is the point of rotating it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"calsync connections v1"


class SecretError(ValueError):
    """A stored secret cannot be decrypted (CALSYNC_SECRET_KEY changed?); the message is meant for people."""


def fernet(secret_key: str) -> Fernet:
    """The Fernet of this deployment: a 32-byte key derived from CALSYNC_SECRET_KEY (never the key itself)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"calsync", info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(values: dict[str, Any], secret_key: str) -> str:
    return fernet(secret_key).encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def unseal(token: str, secret_key: str, *, what: str = "a stored secret") -> dict[str, Any]:
    try:
        return json.loads(fernet(secret_key).decrypt(token.encode()))
    except (InvalidToken, ValueError):
        raise SecretError(f"{what} cannot be decrypted: CALSYNC_SECRET_KEY changed since it was saved") from None
