"""Stored connections to Salesforce, Exchange (EWS) and Microsoft 365 (Graph) (table ``connections``), secrets
encrypted at rest.

The admin panel saves them (Salesforce through OAuth, the Exchange service account by hand); the process's
runtime (`sync.runtime.Runtime.connection_settings`) lays them over the environment's connection settings.
Secrets (tokens, passwords) are one Fernet token of their JSON, under a key derived with HKDF-SHA256 from
CALSYNC_SECRET_KEY: the database alone never reveals them, and nothing here hands them to a web page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import Connection
from sync.secrets import SecretError, fernet, seal, unseal

SERVICES = ("salesforce", "exchange", "microsoft365")


__all__ = ["SERVICES", "SecretError", "StoredConnection", "decrypt", "delete", "encrypt", "fernet", "load", "save"]


def encrypt(secret_key: str, values: dict[str, Any]) -> str:
    return seal(values, secret_key)


def decrypt(secret_key: str, token: str) -> dict[str, Any]:
    return unseal(token, secret_key, what="a stored connection secret (connect again in the admin panel)")


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
