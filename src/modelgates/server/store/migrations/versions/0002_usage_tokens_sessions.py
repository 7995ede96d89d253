"""Usage windows on keys, usage charges, service tokens and browser sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelgates.server.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WINDOW_COLUMNS = [
    ("day_index", sa.Integer()),
    ("day_micros", sa.BigInteger()),
    ("week_index", sa.Integer()),
    ("week_micros", sa.BigInteger()),
    ("month_index", sa.Integer()),
    ("month_micros", sa.BigInteger()),
]


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        for name, type_ in _WINDOW_COLUMNS:
            # The server default fills existing rows; new rows get theirs from the code.
            batch.add_column(sa.Column(name, type_, nullable=False, server_default="0"))
    with op.batch_alter_table("api_keys") as batch:
        for name, type_ in _WINDOW_COLUMNS:
            batch.alter_column(name, existing_type=type_, server_default=None)
    op.create_table(
        "usage_charges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("usage_after_micros", sa.BigInteger(), nullable=False),
        sa.Column("remaining_after_micros", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_usage_charges_key_id_api_keys"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_usage_charges"),
        sa.UniqueConstraint("request_id", name="uq_usage_charges_request_id"),
    )
    op.create_index("ix_usage_charges_key_id", "usage_charges", ["key_id"])
    op.create_table(
        "service_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_service_tokens_token_hash"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_sessions_token_hash"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("service_tokens")
    op.drop_index("ix_usage_charges_key_id", table_name="usage_charges")
    op.drop_table("usage_charges")
    with op.batch_alter_table("api_keys") as batch:
        for name, _type in _WINDOW_COLUMNS:
            batch.drop_column(name)
