"""Per-route message counts frozen with a stopped execution (`pipeline_executions.route_counts`).

The detail, routes and event snapshot of a finished execution read these instead of aggregating
its lineage rows on every call. Rows stopped before this revision have none; the first read
computes them once from lineage and stores them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("pipeline_executions", sa.Column("route_counts", json_type, nullable=True))


def downgrade() -> None:
    op.drop_column("pipeline_executions", "route_counts")
