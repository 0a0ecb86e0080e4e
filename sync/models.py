"""Every database table of calsync, in one place (SQLAlchemy 2 declarative models).

They live in ``sync`` because the engine (the lowest layer) owns links, health and sessions, and ``backend``
and ``admin_panel`` build on them; the engine itself never imports Flask. Schema changes go through Alembic
(``backend/migrations``); ``calsync db upgrade`` applies them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the offset; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Mailbox(Base):
    """A rep's Exchange mailbox and the Salesforce user it syncs with."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("entra_tenant_id", "entra_object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    salesforce_user_id: Mapped[str | None] = mapped_column(String(18))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # IANA zone that places all-day Salesforce items on the rep's calendar.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # When the master category list was last checked, and for which category definitions.
    category_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Which protocol reaches the calendar: "ews" (Exchange Server, or Exchange Online over EWS) or "graph"
    # (Microsoft Graph, Exchange Online only); `calsync mailboxes move` switches it (sync.mailbox_moves).
    backend: Mapped[str] = mapped_column(String(8), default="ews", server_default="ews")
    # Opaque Exchange change-feed cursor for the calendar (EWS SyncFolderItems state, or Graph's delta link);
    # NULL means "list everything".
    exchange_sync_state: Mapped[str | None] = mapped_column(Text)
    # Per object kind: the SystemModstamp watermark of the last complete Salesforce read.
    salesforce_watermarks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The object kinds that were off (direction ``off``) in the session that last moved the cursors: a kind off
    # then and on now had its Exchange changes skipped by the shared calendar cursor, so the next session reads
    # Exchange from scratch (sync.session; docs/policies.md "Switching a kind off and on again").
    kinds_off: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    next_sync_at: Mapped[dt.datetime | None]
    sync_interval_minutes: Mapped[int] = mapped_column(Integer, default=30)
    backoff_until: Mapped[dt.datetime | None]
    backoff_reason: Mapped[str | None] = mapped_column(Text)
    # Per-mailbox Exchange login instead of the impersonating service account: JSON sealed with
    # CALSYNC_SECRET_KEY (sync.secrets), never shown back.
    exchange_credentials: Mapped[str | None] = mapped_column(Text)
    # The Entra user the add-in may act as: tenant (tid) and object id (oid) of its access tokens, learned at
    # the first sign-in whose UPN matches or set by an admin (backend.identity). NULL: not bound yet.
    entra_tenant_id: Mapped[str | None] = mapped_column(String(36))
    entra_object_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    links: Mapped[list[Link]] = relationship(back_populates="mailbox", cascade="all, delete-orphan")


class Link(Base):
    """One Exchange item ⇄ Salesforce record pair (docs/sync-model.md)."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "exchange_item_id"),
        Index("ix_links_salesforce", "salesforce_object", "salesforce_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    # Written before any remote create so a retry finds the item instead of making a second one.
    sync_key: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    kind: Mapped[str] = mapped_column(String(80))  # "event", "task", "custom:Site_Visit__c"
    origin: Mapped[str] = mapped_column(String(16))  # "exchange" | "salesforce"
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending/active/unlinked/failed
    exchange_item_id: Mapped[str | None] = mapped_column(String(512))
    exchange_change_key: Mapped[str | None] = mapped_column(String(512))
    exchange_uid: Mapped[str | None] = mapped_column(String(512), index=True)  # iCalUId: one meeting, one Event
    salesforce_object: Mapped[str | None] = mapped_column(String(80))
    salesforce_id: Mapped[str | None] = mapped_column(String(18))
    salesforce_modstamp: Mapped[dt.datetime | None]
    # Each side's projection as last synced: the bases of three-way merges (per side, because lossy fields and
    # one-way fields legitimately differ between the sides). Their hashes recognise echoes of our own writes.
    exchange_base: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    salesforce_base: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who/What chosen in the add-in when the item was shared; they win over attendee matching.
    shared_who_ids: Mapped[list[str] | None] = mapped_column(JSON)
    shared_what_id: Mapped[str | None] = mapped_column(String(18))
    # The Exchange item was made by sync from Salesforce (delete_salesforce_created and `off` may remove it).
    created_by_sync_on_exchange: Mapped[bool] = mapped_column(Boolean, default=False)
    # A meeting the mailbox attends but does not organise: never written on the Exchange side.
    exchange_read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # The Event is another mailbox's (same meeting): this mailbox is an invitee and never writes the Event.
    joined_event: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    mailbox: Mapped[Mailbox] = relationship(back_populates="links")


class Policy(Base):
    """The sync policy of one object kind (docs/policies.md), stored as validated JSON."""

    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncSession(Base):
    """One sync session of one mailbox: what it did, what it cost, how it ended."""

    __tablename__ = "sync_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running/ok/partial/failed
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # action -> direction -> n
    api_calls: Mapped[dict[str, Any]] = mapped_column(default=dict)  # service -> n
    writes: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The org's daily Salesforce API usage as this session last saw it: {"used": n, "max": n}.
    salesforce_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Salesforce sessions renewed during the session (INVALID_SESSION_ID, then a new token).
    salesforce_reauths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why it ran: ``push`` (a change notification), ``schedule``, ``now`` (asked for), ``share``... (None: before
    # sessions kept it). The task pane's "last sync" says when a change made it.
    trigger: Mapped[str | None] = mapped_column(String(16))


class HealthEntry(Base):
    """An item that cannot sync, with a stable code and a message meant for people."""

    __tablename__ = "health_entries"
    __table_args__ = (UniqueConstraint("mailbox_id", "item_ref", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    item_ref: Mapped[str] = mapped_column(String(600))  # "exchange:<id>", "salesforce:<id>" or "mailbox"
    side: Mapped[str] = mapped_column(String(16))  # exchange/salesforce/both
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open/resolved/ignored


class ShareRequest(Base):
    """*Share* pressed in the add-in, waiting for the next session: the Who/What chosen for one Exchange item.

    Kept apart from the link row on purpose: the planner compares the Who/What an item is shared with now
    (``ExchangeChange.shared``) against what the link last sent to Salesforce (``Link.shared_*``), so the
    request must not overwrite the link before the session has sent it. The session consumes a request when
    its Exchange cursor moves past the item (``sync.shares``)."""

    __tablename__ = "share_requests"
    __table_args__ = (UniqueConstraint("mailbox_id", "exchange_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    exchange_item_id: Mapped[str] = mapped_column(String(512))
    who_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    what_id: Mapped[str | None] = mapped_column(String(18))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- admin panel (issue 7): accounts, audit log, org settings, connections ------------------------------------
class AdminUser(Base):
    """A local account of the admin panel. ``role``: ``admin`` (may change things) or ``viewer`` (read only)."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    # Bumped at logout and password change: every session cookie of an older generation stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditEntry(Base):
    """One change made in the admin panel: who, when, what, and the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(600))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OrgSetting(Base):
    """An org-wide engine setting an admin changed (``sync.settings_store``); absent keys use the defaults."""

    __tablename__ = "org_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Connection(Base):
    """How to reach Salesforce or Exchange, as an admin set it up. ``secret`` is Fernet-encrypted JSON
    (tokens, passwords) under a key derived from CALSYNC_SECRET_KEY; ``config`` holds what is not secret."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(32), unique=True)  # salesforce | exchange
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- scope entry (issue 23) ----------------------------------------------------------------------------------
class OutOfScopeItem(Base):
    """A tagged Exchange item or Salesforce record a session read but left alone because it lay outside the
    scope, with the span of time it covers: when the scope widens or the calendar moves on so that the span
    enters it, the next session reads the item directly and plans it (`sync.scope_entry`). Rows go as soon as
    a feed reports the item in scope, deleted or untagged."""

    __tablename__ = "out_of_scope_items"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "side", "item_id"),
        Index("ix_out_of_scope_items_span", "mailbox_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(16))  # exchange | salesforce
    item_id: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(80))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]  # sync.scope.OPEN_END for a series without an end
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- Microsoft Graph change notifications (issue 18; docs/push.md, "Microsoft Graph") -------------------------
class GraphSubscription(Base):
    """A Graph mailbox's change-notification subscription on ``/users/{id}/events``, kept by
    `sync.push.graph_subscriptions`. The webhook (``backend/api/graph_notifications.py``) finds the mailbox by
    ``subscription_id`` and checks the ``clientState`` Graph echoes against ``client_state_hash`` (SHA-256: the
    secret itself is never stored). A recreated subscription replaces the row's subscription in place.
    ``mailbox_id`` is NULL once the mailbox is removed: the keeper still deletes the subscription at Graph."""

    __tablename__ = "graph_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(64), unique=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"), unique=True)
    mailbox_email: Mapped[str] = mapped_column(String(320))
    resource: Mapped[str] = mapped_column(String(512))
    client_state_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_renewed_at: Mapped[dt.datetime | None]
    last_notification_at: Mapped[dt.datetime | None]
    # Lifecycle notifications mark the row; the keeper acts on the mark (no Graph call inside the webhook).
    reauthorize_requested_at: Mapped[dt.datetime | None]
    removed_at: Mapped[dt.datetime | None]


# -- policy profiles (issue 19) ------------------------------------------------------------------------------
class PolicyProfile(Base):
    """A named set of per-kind policies (`sync.profiles`). The default profile (``is_default``) is the org's
    policy table (`Policy` rows, the panel's Policies page); another profile's ``policies`` holds the settings
    of the kinds it sets (kind → `sync.policies.Policy.to_dict()` without the kind), the rest follow the
    default."""

    __tablename__ = "policy_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    policies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProfileRule(Base):
    """A rule on the rep's Salesforce user: ``attribute`` (``role``, ``profile`` or ``field:<ApiName>``) equal
    to ``value`` (case-insensitive) gives ``profile_id``. Rules are tried by ``position``; the first match wins."""

    __tablename__ = "profile_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    attribute: Mapped[str] = mapped_column(String(120))
    value: Mapped[str] = mapped_column(String(255))
    profile_id: Mapped[int] = mapped_column(ForeignKey("policy_profiles.id", ondelete="CASCADE"))


class MailboxProfile(Base):
    """Per mailbox: the explicitly assigned profile (if any), and the rep's Salesforce user as the rules see it
    (``user_facts``: role, profile and the user fields rules name), read at most once a day and at "sync now"."""

    __tablename__ = "mailbox_profiles"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("policy_profiles.id", ondelete="RESTRICT"))
    assigned_by: Mapped[str | None] = mapped_column(String(320))
    assigned_at: Mapped[dt.datetime | None]
    user_facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    facts_read_at: Mapped[dt.datetime | None]


class LatencySample(Base):
    """One write of a session and how long after the edit on the other side it landed (issue 18: the panel's
    latency chart; `sync.push.latency`). ``direction``: ``outlook_to_salesforce`` or ``salesforce_to_outlook``;
    ``trigger``: why the session ran (``push``, ``schedule``, ``now``)."""

    __tablename__ = "push_latency_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(24))
    seconds: Mapped[float] = mapped_column(Float)
    written_at: Mapped[dt.datetime] = mapped_column(index=True)
    trigger: Mapped[str | None] = mapped_column(String(16))


class VerifyReport(Base):
    """The last `calsync verify` report of one mailbox (`sync.verify`, docs/verify.md): its JSON as printed by
    ``calsync verify --json``, kept for the admin panel's mailbox page."""

    __tablename__ = "verify_reports"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    checked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))  # ok | failed
    findings: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Who ran it: "cli", or the admin's e-mail for a run from the panel.
    requested_by: Mapped[str | None] = mapped_column(String(320))
