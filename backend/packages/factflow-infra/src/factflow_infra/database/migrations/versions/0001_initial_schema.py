"""Initial schema: pipeline_configs, pipeline_executions, pipeline_lineage, route_pause_state.

Exactly `.claude/database-schema.md`. Self-contained on purpose (no imports from the package),
so later changes to the models or `_base.py` cannot rewrite history.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types of `factflow_infra.database._base`, frozen here.
ID = sa.String(36)
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EMPTY_OBJECT = sa.text("'{}'")


def upgrade() -> None:
    op.create_table(
        "pipeline_configs",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config_yaml", sa.Text(), nullable=False),
        sa.Column("config_hash", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("source_path", sa.String(1024), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_configs"),
    )
    op.create_index("ix_pipeline_configs_source_path", "pipeline_configs", ["source_path"])
    op.create_index("ix_pipeline_configs_updated_at", "pipeline_configs", ["updated_at"])

    op.create_table(
        "pipeline_executions",
        sa.Column("id", ID, nullable=False),
        sa.Column("config_id", ID, nullable=False),
        sa.Column("config_name", sa.String(200), nullable=False),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(128), nullable=True),
        sa.Column("parent_execution_id", ID, nullable=True),
        sa.Column("replay_batch_id", ID, nullable=True),
        sa.Column("replay_source", sa.String(16), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error_info", JSON, nullable=True),
        sa.Column("config_snapshot", JSON, nullable=False),
        sa.Column("root_correlation_id", ID, nullable=True),
        sa.Column("init_payload", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY_OBJECT),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("message_counts", JSON, nullable=True),
        sa.Column("replay", JSON, nullable=True),
        sa.Column("recovered_at", TIME, nullable=True),
        sa.Column("recovery_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("stats", JSON, nullable=True),
        sa.Column("queues_purged_at", TIME, nullable=True),
        sa.Column("dlq_purged_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_executions"),
        sa.UniqueConstraint("tag", name="uq_pipeline_executions_tag"),
    )
    op.create_index("ix_pipeline_executions_config_id", "pipeline_executions", ["config_id"])
    op.create_index("ix_pipeline_executions_status", "pipeline_executions", ["status"])
    op.create_index("ix_pipeline_executions_parent_execution_id", "pipeline_executions", ["parent_execution_id"])
    op.create_index("ix_pipeline_executions_replay_batch_id", "pipeline_executions", ["replay_batch_id"])
    op.create_index("ix_pipeline_executions_started_at", "pipeline_executions", ["started_at"])

    op.create_table(
        "pipeline_lineage",
        sa.Column("id", ID, nullable=False),
        sa.Column("correlation_id", ID, nullable=False),
        sa.Column("parent_correlation_id", ID, nullable=True),
        sa.Column("execution_id", ID, nullable=False),
        sa.Column("route_id", sa.String(64), nullable=False),
        sa.Column("adapter_name", sa.String(64), nullable=False),
        sa.Column("adapter_index", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(128), nullable=False),
        sa.Column("stage_status", sa.String(16), nullable=False),
        sa.Column("input_hash", sa.String(80), nullable=True),
        sa.Column("output_hash", sa.String(80), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error_info", JSON, nullable=True),
        sa.Column("replay_batch_id", ID, nullable=True),
        sa.Column("batch_id", ID, nullable=True),
        sa.Column("delivery_count", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("storage_key", sa.String(1024), nullable=True),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY_OBJECT),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_lineage"),
    )
    op.create_index("ix_pipeline_lineage_correlation_id", "pipeline_lineage", ["correlation_id"])
    op.create_index("ix_pipeline_lineage_parent_correlation_id", "pipeline_lineage", ["parent_correlation_id"])
    op.create_index(
        "ix_pipeline_lineage_execution_id_started_at", "pipeline_lineage", ["execution_id", "started_at"]
    )
    op.create_index(
        "ix_pipeline_lineage_execution_id_stage_status", "pipeline_lineage", ["execution_id", "stage_status"]
    )
    op.create_index("ix_pipeline_lineage_replay_batch_id", "pipeline_lineage", ["replay_batch_id"])
    op.create_index("ix_pipeline_lineage_batch_id", "pipeline_lineage", ["batch_id"])

    op.create_table(
        "route_pause_state",
        sa.Column("route_id", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", TIME, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("route_id", name="pk_route_pause_state"),
    )


def downgrade() -> None:
    op.drop_table("route_pause_state")
    op.drop_table("pipeline_lineage")
    op.drop_table("pipeline_executions")
    op.drop_table("pipeline_configs")
