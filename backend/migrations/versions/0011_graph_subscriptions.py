"""graph_subscriptions: each Graph mailbox's change-notification subscription (issue 18, docs/push.md)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import sync.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graph_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("mailbox_email", sa.String(length=320), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("client_state_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_renewed_at", sync.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_notification_at", sync.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reauthorize_requested_at", sync.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sync.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name=op.f("fk_graph_subscriptions_mailbox_id_mailboxes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_subscriptions")),
        sa.UniqueConstraint("mailbox_id", name=op.f("uq_graph_subscriptions_mailbox_id")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_graph_subscriptions_subscription_id")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("graph_subscriptions")
