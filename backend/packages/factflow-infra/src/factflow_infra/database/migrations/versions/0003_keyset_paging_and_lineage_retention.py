"""Indexes for keyset (cursor) paging, and the columns of lineage retention.

- `pipeline_executions (started_at, id)`: `GET /executions` pages by `started_at`, then `id`.
- `pipeline_lineage (started_at, id)`: `GET /lineage` across executions, by `started_at`.
- `pipeline_lineage (stage_status, completed_at, id)`: `GET /lineage/failures`, newest first.
- `pipeline_executions.lineage_retention_days`: an execution's own lineage retention (days).
- `pipeline_executions.lineage_purged_at`: when retention deleted the execution's lineage rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pipeline_executions", sa.Column("lineage_retention_days", sa.Float(), nullable=True))
    op.add_column("pipeline_executions", sa.Column("lineage_purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_pipeline_executions_started_at_id", "pipeline_executions", ["started_at", "id"])
    op.create_index("ix_pipeline_lineage_started_at_id", "pipeline_lineage", ["started_at", "id"])
    op.create_index(
        "ix_pipeline_lineage_stage_status_completed_at_id", "pipeline_lineage", ["stage_status", "completed_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_pipeline_lineage_stage_status_completed_at_id", table_name="pipeline_lineage")
    op.drop_index("ix_pipeline_lineage_started_at_id", table_name="pipeline_lineage")
    op.drop_index("ix_pipeline_executions_started_at_id", table_name="pipeline_executions")
    with op.batch_alter_table("pipeline_executions") as batch:
        batch.drop_column("lineage_purged_at")
        batch.drop_column("lineage_retention_days")
