"""share requests of the add-in (Who/What chosen when sharing an item, until a session sends them)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import sync.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("exchange_item_id", sa.String(length=512), nullable=False),
        sa.Column("who_ids", sa.JSON(), nullable=False),
        sa.Column("what_id", sa.String(length=18), nullable=True),
        sa.Column("requested_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_share_requests_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_requests")),
        sa.UniqueConstraint("mailbox_id", "exchange_item_id", name=op.f("uq_share_requests_mailbox_id")),
    )
    with op.batch_alter_table("share_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_share_requests_mailbox_id"), ["mailbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("share_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_requests_mailbox_id"))
    op.drop_table("share_requests")
