"""Keep the key order of execution config snapshots on PostgreSQL (`json`, not `jsonb`).

JSONB re-sorts object keys, so the declaration order of a snapshot's `routes` was lost on
PostgreSQL. Snapshots stored before this revision keep their (sorted) order; new ones keep the
order they were written in. SQLite stores JSON as text and needs no change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "pipeline_executions",
        "config_snapshot",
        type_=sa.JSON(),
        existing_type=postgresql.JSONB(),
        existing_nullable=False,
        postgresql_using="config_snapshot::text::json",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "pipeline_executions",
        "config_snapshot",
        type_=postgresql.JSONB(),
        existing_type=sa.JSON(),
        existing_nullable=False,
        postgresql_using="config_snapshot::jsonb",
    )
