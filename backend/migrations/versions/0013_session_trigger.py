"""sessions keep why they ran (push, schedule, now, share...): the task pane's "last sync" says a change did it

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_sessions", schema=None) as batch_op:
        batch_op.drop_column("trigger")
