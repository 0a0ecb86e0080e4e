"""mailboxes say which protocol reaches their calendar: EWS or Microsoft Graph

Revision ID: 0008_g16b
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_g16b"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing mailboxes keep syncing as they did: over EWS.
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backend", sa.String(length=8), server_default="ews", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.drop_column("backend")
