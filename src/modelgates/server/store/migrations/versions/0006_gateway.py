"""The gateway: each completion's record (its hold, then its charge), and each key's open holds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelgates.server.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("held_micros", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "generations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("referer_origin", sa.String(2048), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("streamed", sa.Boolean(), nullable=False),
        sa.Column("held_micros", sa.BigInteger(), nullable=False),
        sa.Column("held_prompt_micros", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tokens_prompt", sa.Integer(), nullable=False),
        sa.Column("tokens_completion", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("charged_micros", sa.BigInteger(), nullable=False),
        sa.Column("usage_estimated", sa.Boolean(), nullable=False),
        sa.Column("provider_status", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name="fk_generations_key_id_api_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_generations"),
    )
    op.create_index("ix_generations_key_id", "generations", ["key_id"])
    op.create_index("ix_generations_user_id_created_at", "generations", ["user_id", "created_at"])
    op.create_index(
        "ix_generations_unsettled",
        "generations",
        ["created_at"],
        sqlite_where=sa.text("settled_at IS NULL"),
        postgresql_where=sa.text("settled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("generations")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("held_micros")
