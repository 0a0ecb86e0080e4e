"""links.joined_event (one meeting, one Event); mailboxes.exchange_credentials (per-mailbox login)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("joined_event", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_links_exchange_uid", ["exchange_uid"])
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("exchange_credentials", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("exchange_credentials")
    with op.batch_alter_table("links") as batch:
        batch.drop_index("ix_links_exchange_uid")
        batch.drop_column("joined_event")
