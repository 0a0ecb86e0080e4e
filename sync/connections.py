"""Stored connections to Salesforce and Exchange (table ``connections``), secrets encrypted at rest.

The admin panel saves them (Salesforce through OAuth, the Exchange service account by hand); the composition
root (``calsync.wiring``) lays them over the environment's connection settings. Secrets (tokens, passwords)
are one Fernet token of their JSON, under a key derived with HKDF-SHA256 from CALSYNC_SECRET_KEY: the
database alone never reveals them, and nothing here hands them to a web page.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import Connection

SERVICES = ("salesforce", "exchange")
_INFO = b"calsync connections v1"


class SecretError(ValueError):
    """A stored secret cannot be decrypted (CALSYNC_SECRET_KEY changed?); the message is meant for people."""


def fernet(secret_key: str) -> Fernet:
    """The Fernet of this deployment: a 32-byte key derived from CALSYNC_SECRET_KEY (never the key itself)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"calsync", info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret_key: str, values: dict[str, Any]) -> str:
    return fernet(secret_key).encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(secret_key: str, token: str) -> dict[str, Any]:
    try:
        return json.loads(fernet(secret_key).decrypt(token.encode()))
    except InvalidToken:
        raise SecretError(
            "a stored connection secret cannot be decrypted: CALSYNC_SECRET_KEY changed since it was saved "
            "(connect again in the admin panel)"
        ) from None


@dataclass
class StoredConnection:
    service: str
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)


def load(db: Session, service: str, secret_key: str) -> StoredConnection | None:
    row = db.scalars(select(Connection).where(Connection.service == service)).one_or_none()
    if row is None:
        return None
    secrets = decrypt(secret_key, row.secret) if row.secret else {}
    return StoredConnection(service, dict(row.config or {}), secrets)


def save(db: Session, connection: StoredConnection, secret_key: str) -> Connection:
    """Store (or replace) a service's connection. The caller commits."""
    if connection.service not in SERVICES:
        raise ValueError(f"unknown service {connection.service!r}")
    row = db.scalars(select(Connection).where(Connection.service == connection.service)).one_or_none()
    if row is None:
        row = Connection(service=connection.service)
        db.add(row)
    row.config = dict(connection.config)
    row.secret = encrypt(secret_key, connection.secrets) if connection.secrets else None
    return row


def delete(db: Session, service: str) -> bool:
    row = db.scalars(select(Connection).where(Connection.service == service)).one_or_none()
    if row is None:
        return False
    db.delete(row)
    return True
