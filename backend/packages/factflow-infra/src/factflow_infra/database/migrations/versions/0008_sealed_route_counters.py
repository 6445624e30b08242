"""Sealed route counters (`pipeline_lineage_routes.sealed`): a finished execution's counts stop moving.

The per-message rows of revision 0007 (`pipeline_lineage_messages`, 100+ bytes per message and
route) are needed only while a route's counts can move. Once an execution is final and its
per-route counts are frozen into `pipeline_executions.route_counts`, its routes are sealed: the
message triggers skip rows of sealed routes (in the route lookup they already do, and, on
PostgreSQL, again when they add to a route's counters, so a writer racing the seal cannot move
them after it), so late writes of a worker, lineage retention and deletes no longer touch the
execution's message rows or route counters. The server then deletes those message rows in the
background. A route row made for an execution whose routes are sealed (a late row of a route that
had none) is made sealed too.

The triggers are 0007's, with these conditions added; the upgrade seals the routes of executions
whose counts are already frozen, the downgrade puts 0007's triggers back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision_0007() -> ModuleType:
    """Revision 0007's module (shipped, so frozen): its trigger SQL is the base of this one's."""
    path = Path(__file__).with_name("0007_route_message_counters.py")
    spec = importlib.util.spec_from_file_location("factflow_migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_V7: Final = _revision_0007()
_ROUTES: Final = "pipeline_lineage_routes"
_EVENTS: Final = ("insert", "update", "delete")
_FINAL_STATUSES: Final = "('completed', 'failed', 'cancelled')"


def _replace_once(sql: str, old: str, new: str) -> str:
    if sql.count(old) != 1:
        raise RuntimeError(f"revision 0008: expected one {old!r} in the trigger SQL of revision 0007")
    return sql.replace(old, new)


# ---------------------------------------------------------------------------------- PostgreSQL


def _pg_message_function(event: str, *, sealed: bool) -> str:
    body: str = _V7._pg_message_function(event)
    if sealed:
        keys = " WHERE s.stage_key IN (SELECT stage_key FROM changed)"
        body = _replace_once(body, keys, " WHERE NOT r.sealed AND s.stage_key IN (SELECT stage_key FROM changed)")
        # Re-checked under the route row's lock: a statement that found the route unsealed
        # before a concurrent seal committed adds nothing to it after.
        route = " AS t WHERE r.route_key = t.route_key"
        body = _replace_once(body, route, f"{route} AND NOT r.sealed")
    return body


def _pg_route_create(*, sealed: bool) -> str:
    if sealed:
        values = (
            "(NEW.execution_id, NEW.route_id,"
            f" EXISTS (SELECT 1 FROM {_ROUTES} WHERE execution_id = NEW.execution_id AND sealed))"
        )
        columns = "(execution_id, route_id, sealed)"
    else:
        values, columns = "(NEW.execution_id, NEW.route_id)", "(execution_id, route_id)"
    return (
        "CREATE OR REPLACE FUNCTION pipeline_lineage_route_create() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" INSERT INTO {_ROUTES} {columns} VALUES {values}"
        " ON CONFLICT (execution_id, route_id) DO NOTHING; RETURN NULL; END $$"
    )


def _postgres_functions(*, sealed: bool) -> None:
    """Replace the trigger functions (the triggers stay): sealed-aware, or 0007's."""
    op.execute(_pg_route_create(sealed=sealed))
    for event in _EVENTS:
        name = f"pipeline_lineage_message_{event}"
        op.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off AS $$"
            f" BEGIN {_pg_message_function(event, sealed=sealed)} RETURN NULL; END $$"
        )


# ---------------------------------------------------------------------------------- SQLite


def _sqlite_apply(row: str, sign: int) -> str:
    """0007's statements for one row, with the row's route looked up among unsealed routes only.

    A row of a sealed route finds no route key: the message upsert (guarded by `IS NOT NULL`)
    and the route updates (matching `route_key = NULL`) do nothing.
    """
    lookup = f" WHERE s.stage_key = {row}.stage_key)"
    body: str = _V7._sqlite_apply(row, sign)
    if body.count(lookup) < 1:
        raise RuntimeError(f"revision 0008: expected {lookup!r} in the trigger SQL of revision 0007")
    return body.replace(lookup, f" WHERE s.stage_key = {row}.stage_key AND NOT r.sealed)")


def _drop_sqlite_triggers() -> None:
    op.execute("DROP TRIGGER IF EXISTS pipeline_lineage_route_create")
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS pipeline_lineage_message_{event}")


def _sqlite_triggers() -> None:
    op.execute(
        "CREATE TRIGGER pipeline_lineage_route_create AFTER INSERT ON pipeline_lineage_stages FOR EACH ROW"
        f" BEGIN INSERT INTO {_ROUTES} (execution_id, route_id, sealed) VALUES (NEW.execution_id, NEW.route_id,"
        f" EXISTS (SELECT 1 FROM {_ROUTES} WHERE execution_id = NEW.execution_id AND sealed))"
        " ON CONFLICT (execution_id, route_id) DO NOTHING; END"
    )
    bodies = {
        "insert": ("", _sqlite_apply("NEW", 1)),
        # As in 0007: only a change of status, stage or message moves counts.
        "update": (
            " WHEN OLD.stage_status IS NOT NEW.stage_status OR OLD.stage_key IS NOT NEW.stage_key"
            " OR OLD.correlation_id IS NOT NEW.correlation_id",
            _sqlite_apply("OLD", -1) + " " + _sqlite_apply("NEW", 1),
        ),
        "delete": ("", _sqlite_apply("OLD", -1)),
    }
    for event, (when, body) in bodies.items():
        op.execute(
            f"CREATE TRIGGER pipeline_lineage_message_{event} AFTER {event.upper()} ON pipeline_lineage"
            f" FOR EACH ROW{when} BEGIN {body} END"
        )


# ---------------------------------------------------------------------------------- steps

# `route_counts` is SQL NULL, or JSON `null` when written as `None`: neither is frozen.
_SEAL_FROZEN: Final = (
    f"UPDATE {_ROUTES} SET sealed = true WHERE execution_id IN (SELECT id FROM pipeline_executions"
    f" WHERE status IN {_FINAL_STATUSES} AND CAST(route_counts AS TEXT) <> 'null')"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(_ROUTES, sa.Column("sealed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(_SEAL_FROZEN)
    if dialect == "postgresql":
        _postgres_functions(sealed=True)
    else:
        _drop_sqlite_triggers()
        _sqlite_triggers()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Nothing may name the column when it goes (SQLite refuses to drop a column a trigger names).
    if dialect == "postgresql":
        _postgres_functions(sealed=False)
    else:
        _drop_sqlite_triggers()
    op.drop_column(_ROUTES, "sealed")
    if dialect != "postgresql":
        _V7._sqlite_triggers()
    # Sealed routes' message rows may be gone: count them again from the rows, as 0007's upgrade does.
    op.execute(f"DELETE FROM {_V7._MESSAGES}")
    op.execute(_V7._FILL_MESSAGES)
    op.execute(_V7._FILL_COUNTS)
