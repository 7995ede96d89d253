"""An index of the codes that still hold a sealed key or a pending challenge.

The sweeper forgets those secrets once a code expires; without this index its UPDATE read every
code ever made, every minute, in every process (on SQLite holding the write lock throughout:
32 ms at 200,000 codes). Spent, expired codes leave the index, so it stays as small as the
codes of the last few minutes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

HOLDING_SECRETS = "sealed_key IS NOT NULL OR pending_challenge IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_auth_codes_holding_secrets",
        "auth_codes",
        ["expires_at"],
        sqlite_where=sa.text(HOLDING_SECRETS),
        postgresql_where=sa.text(HOLDING_SECRETS),
    )


def downgrade() -> None:
    op.drop_index("ix_auth_codes_holding_secrets", table_name="auth_codes")
