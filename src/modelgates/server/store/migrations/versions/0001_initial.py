"""Users, apps, API keys and authorization codes.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelgates.server.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(2048), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("categories", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("origin", name="uq_apps_origin"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("is_management", sa.Boolean(), nullable=False),
        sa.Column("limit_micros", sa.BigInteger(), nullable=True),
        sa.Column("limit_reset", sa.String(10), nullable=True),
        sa.Column("usage_micros", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_keys_user_id_users"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_api_keys_app_id_apps"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("hash", name="uq_api_keys_hash"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "auth_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("callback_url", sa.String(2048), nullable=True),
        sa.Column("code_challenge", sa.String(128), nullable=True),
        sa.Column("code_challenge_method", sa.String(5), nullable=True),
        sa.Column("pending_challenge", sa.String(128), nullable=True),
        sa.Column("limit_micros", sa.BigInteger(), nullable=True),
        sa.Column("usage_limit_type", sa.String(10), nullable=True),
        sa.Column("key_label", sa.String(100), nullable=True),
        sa.Column("key_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("spent_at", UTCDateTime(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_auth_codes_user_id_users"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_auth_codes_app_id_apps"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_auth_codes_key_id_api_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_auth_codes"),
        sa.UniqueConstraint("code_hash", name="uq_auth_codes_code_hash"),
        sa.UniqueConstraint("user_id", "pending_challenge", name="uq_auth_codes_pending_challenge"),
    )


def downgrade() -> None:
    op.drop_table("auth_codes")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("apps")
    op.drop_table("users")
