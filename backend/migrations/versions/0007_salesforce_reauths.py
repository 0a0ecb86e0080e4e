"""sessions count their Salesforce re-authentications (a new token after INVALID_SESSION_ID)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salesforce_reauths", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sync_sessions", schema=None) as batch_op:
        batch_op.drop_column("salesforce_reauths")
