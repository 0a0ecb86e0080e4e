"""Local admin-panel accounts: created with ``calsync admin create EMAIL``, passwords hashed (werkzeug's
scrypt), checked at login. ``admin`` accounts may change things; ``viewer`` accounts only look."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from sync.models import AdminUser, utcnow

ROLES = ("admin", "viewer")
MIN_PASSWORD = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("calsync-no-such-user")


class AccountError(ValueError):
    """Bad input for an account; the message is meant for people."""


def find(db: Session, email: str) -> AdminUser | None:
    return db.scalars(select(AdminUser).where(func.lower(AdminUser.email) == email.strip().lower())).one_or_none()


def create(db: Session, email: str, password: str, *, role: str = "admin") -> AdminUser:
    """Create the account, or set a new password and role on an existing one. The caller commits."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must be at least {MIN_PASSWORD} characters long")
    user = find(db, email)
    if user is None:
        user = AdminUser(email=email, password_hash="", role=role, active=True, session_generation=0)
        db.add(user)
    else:
        user.session_generation = (user.session_generation or 0) + 1  # a new password ends every session
    user.password_hash = generate_password_hash(password)
    user.role = role
    user.active = True
    return user


def authenticate(db: Session, email: str, password: str) -> AdminUser | None:
    """The active account with this e-mail and password, else None (the caller says nothing more)."""
    user = find(db, email or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    user.last_login_at = utcnow()
    return user
