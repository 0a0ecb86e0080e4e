"""out-of-scope items: tagged items left alone outside the scope, read again once they enter it (issue 23)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import sync.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "out_of_scope_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("starts_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_out_of_scope_items_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_out_of_scope_items")),
        sa.UniqueConstraint("mailbox_id", "side", "item_id", name=op.f("uq_out_of_scope_items_mailbox_id")),
    )
    with op.batch_alter_table("out_of_scope_items", schema=None) as batch_op:
        batch_op.create_index("ix_out_of_scope_items_span", ["mailbox_id", "starts_at"], unique=False)
    # Items dropped for scope before this table existed are remembered nowhere: the next session of every
    # mailbox lists both sides in full once (the lost-state path, docs/invariants.md #12), which fills the table.
    op.execute("UPDATE mailboxes SET exchange_sync_state = NULL")
    op.execute("UPDATE mailboxes SET salesforce_watermarks = '{}'")


def downgrade() -> None:
    with op.batch_alter_table("out_of_scope_items", schema=None) as batch_op:
        batch_op.drop_index("ix_out_of_scope_items_span")
    op.drop_table("out_of_scope_items")
