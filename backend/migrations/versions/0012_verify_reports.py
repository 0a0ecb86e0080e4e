"""verify reports: the last `calsync verify` report per mailbox, for the admin panel (issue 20, point 3).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import sync.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verify_reports",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name=op.f("fk_verify_reports_mailbox_id_mailboxes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_verify_reports")),
    )


def downgrade() -> None:
    op.drop_table("verify_reports")
