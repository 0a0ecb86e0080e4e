"""security hardening: mailboxes bound to an Entra user (tid + oid), admin session generations

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entra_tenant_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('entra_object_id', sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_mailboxes_entra_tenant_id'),
                                          ['entra_tenant_id', 'entra_object_id'])
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_mailboxes_entra_tenant_id'), type_='unique')
        batch_op.drop_column('entra_object_id')
        batch_op.drop_column('entra_tenant_id')
