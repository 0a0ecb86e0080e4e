"""push latency samples: per write, seconds from the edit on one side to our write on the other (issue 18)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import sync.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_latency_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=24), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("written_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name=op.f("fk_push_latency_samples_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_latency_samples")),
    )  # fmt: skip
    with op.batch_alter_table("push_latency_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_latency_samples_written_at"), ["written_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("push_latency_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_latency_samples_written_at"))
    op.drop_table("push_latency_samples")
