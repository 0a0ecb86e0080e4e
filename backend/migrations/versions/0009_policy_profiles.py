"""policy profiles: named sets of per-kind policies, rules on the rep's Salesforce user, per-mailbox assignment
(issue 19). Today's policies become the default profile: its policies stay the ``policies`` table, so nothing
changes for existing mailboxes.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import sync.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("created_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sync.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_policy_profiles_name")),
    )
    op.create_table(
        "profile_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=120), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["policy_profiles.id"], name=op.f("fk_profile_rules_profile_id_policy_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_rules")),
    )  # fmt: skip
    op.create_table(
        "mailbox_profiles",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("assigned_by", sa.String(length=320), nullable=True),
        sa.Column("assigned_at", sync.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("user_facts", sa.JSON(), nullable=True),
        sa.Column("facts_read_at", sync.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name=op.f("fk_mailbox_profiles_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["policy_profiles.id"], name=op.f("fk_mailbox_profiles_profile_id_policy_profiles"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_mailbox_profiles")),
    )  # fmt: skip
    # The org's policies as they are become the default profile (its policies stay in the policies table).
    profiles = sa.table(
        "policy_profiles",
        sa.column("name", sa.String), sa.column("description", sa.Text), sa.column("is_default", sa.Boolean),
        sa.column("policies", sa.JSON), sa.column("created_at", sync.models.UTCDateTime(timezone=True)),
        sa.column("updated_at", sync.models.UTCDateTime(timezone=True)),
    )  # fmt: skip
    now = sync.models.utcnow()
    op.bulk_insert(
        profiles,
        [{"name": "Default", "description": "The org's policies: every mailbox without another profile.",
          "is_default": True, "policies": {}, "created_at": now, "updated_at": now}],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("mailbox_profiles")
    op.drop_table("profile_rules")
    op.drop_table("policy_profiles")
