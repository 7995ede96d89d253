"""App titles stop being one per origin for everyone.

A title an app claims through a key (``X-ModelGates-Title``) is kept per user in ``app_titles``
and shown to that user only; ``apps.title`` becomes ``apps.operator_title``, the name the
operator sets for every user. The titles recorded so far were claimed by whichever key called
last, for everyone: nobody can tell which were honest, so none is carried over (the keys keep
their labels; the operator names the apps they vouch for with ``modelgates apps title``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.alter_column(
            "title", new_column_name="operator_title", existing_type=sa.String(200), nullable=True
        )
    op.execute("UPDATE apps SET operator_title = NULL")
    with op.batch_alter_table("apps") as batch:  # shorter only once no value is longer
        batch.alter_column(
            "operator_title", existing_type=sa.String(200), type_=sa.String(100), nullable=True
        )
    op.create_table(
        "app_titles",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_app_titles_app_id_apps"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_app_titles_user_id_users"),
        sa.PrimaryKeyConstraint("app_id", "user_id", name="pk_app_titles"),
    )


def downgrade() -> None:
    op.drop_table("app_titles")
    op.execute("UPDATE apps SET operator_title = '' WHERE operator_title IS NULL")
    with op.batch_alter_table("apps") as batch:
        batch.alter_column(
            "operator_title",
            new_column_name="title",
            existing_type=sa.String(100),
            type_=sa.String(200),
            nullable=False,
        )
