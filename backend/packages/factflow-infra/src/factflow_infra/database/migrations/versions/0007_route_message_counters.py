"""Per-route message counts kept by the database (`pipeline_lineage_routes`, `pipeline_lineage_messages`).

A running execution's `RouteStatus` counts (distinct messages of a route, each classed failed,
else in progress, else cancelled, else completed by the statuses of all its rows there) were
aggregated over all the execution's rows on every read: seconds at a million rows. Stage counters
cannot give them: a message re-run after a stop or a crash has several rows of one stage (a
`cancelled` one and a new one), and a message is counted once however many rows it has.

So the database keeps, per route and message, how many of its rows there are in all and how many
are failed, pending or processing, and cancelled (`pipeline_lineage_messages`), and per route how
many messages there are in each class (`pipeline_lineage_routes`). Triggers on `pipeline_lineage`
(statement-level with transition tables on PostgreSQL, row-level on SQLite) apply every insert,
update and delete to both, whoever writes: the route counters move when a message's class does.
A route row is made with the route's first stage row (trigger on `pipeline_lineage_stages`).
Existing rows are counted by the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROUTES: Final = "pipeline_lineage_routes"
_MESSAGES: Final = "pipeline_lineage_messages"
_EVENTS: Final = ("insert", "update", "delete")

# `stage_status` codes (revision 0005): pending 0, processing 1, failed 3, cancelled 5.
_FAILED: Final = "stage_status = 3"
_ACTIVE: Final = "stage_status IN (0, 1)"
_CANCELLED: Final = "stage_status = 5"

_MESSAGE_COUNTS: Final = ("row_count", "failed_count", "active_count", "cancelled_count")
_ROUTE_COUNTS: Final = ("message_count", "failed_messages", "in_progress_messages", "cancelled_messages")


def _classes(count: Callable[[str], str]) -> tuple[str, str, str, str]:
    """Boolean SQL of each route counter (as `_ROUTE_COUNTS`) for one message, `count(name)` its counts."""
    failed, active, cancelled = count("failed_count"), count("active_count"), count("cancelled_count")
    return (
        f"{count('row_count')} > 0",
        f"{failed} > 0",
        f"{failed} = 0 AND {active} > 0",
        f"{failed} = 0 AND {active} = 0 AND {cancelled} > 0",
    )


def _column(table: str) -> Callable[[str], str]:
    return lambda name: f"{table}.{name}"


# ---------------------------------------------------------------------------------- PostgreSQL

_PG_CHANGED: Final = {
    "insert": "SELECT stage_key, correlation_id, stage_status, 1 AS sign FROM new_rows",
    "update": "SELECT stage_key, correlation_id, stage_status, 1 AS sign FROM new_rows"
    " UNION ALL SELECT stage_key, correlation_id, stage_status, -1 FROM old_rows",
    "delete": "SELECT stage_key, correlation_id, stage_status, -1 AS sign FROM old_rows",
}
_PG_TRANSITIONS: Final = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}


def _pg_message_function(event: str) -> str:
    changed = _PG_CHANGED[event]
    keys = (
        f"SELECT s.stage_key, r.route_key FROM pipeline_lineage_stages AS s JOIN {_ROUTES} AS r"
        " ON r.execution_id = s.execution_id AND r.route_id = s.route_id"
        " WHERE s.stage_key IN (SELECT stage_key FROM changed)"
    )
    delta = (
        "SELECT k.route_key, c.correlation_id, sum(c.sign) AS row_count,"
        f" sum(CASE WHEN c.{_FAILED} THEN c.sign ELSE 0 END) AS failed_count,"
        f" sum(CASE WHEN c.{_ACTIVE} THEN c.sign ELSE 0 END) AS active_count,"
        f" sum(CASE WHEN c.{_CANCELLED} THEN c.sign ELSE 0 END) AS cancelled_count"
        " FROM changed AS c JOIN keys AS k ON k.stage_key = c.stage_key GROUP BY k.route_key, c.correlation_id"
    )
    nonzero = " OR ".join(f"{name} <> 0" for name in _MESSAGE_COUNTS)
    columns = ", ".join(_MESSAGE_COUNTS)
    # Increments under the row lock (never read-then-write), in key order so concurrent writers
    # lock message rows in the same order; the counts before are the counts after minus the delta.
    upsert = (
        f"INSERT INTO {_MESSAGES} AS m (route_key, correlation_id, {columns})"
        f" SELECT route_key, correlation_id, {columns} FROM d WHERE {nonzero}"
        " ORDER BY route_key, correlation_id ON CONFLICT (route_key, correlation_id) DO UPDATE SET "
        + ", ".join(f"{name} = m.{name} + excluded.{name}" for name in _MESSAGE_COUNTS)
        + f" RETURNING m.route_key, m.correlation_id, {', '.join(f'm.{name}' for name in _MESSAGE_COUNTS)}"
    )
    moved = (
        "SELECT m.route_key, "
        + ", ".join(
            f"(({after})::int - ({prior})::int) AS {name}"
            for name, after, prior in zip(
                _ROUTE_COUNTS, _classes(_column("m")), _classes(lambda count: f"(m.{count} - d.{count})"), strict=True
            )
        )
        + " FROM m JOIN d ON d.route_key = m.route_key AND d.correlation_id = m.correlation_id"
    )
    totals = (
        "SELECT route_key, "
        + ", ".join(f"sum({name}) AS {name}" for name in _ROUTE_COUNTS)
        + " FROM moved GROUP BY route_key HAVING "
        + " OR ".join(f"sum({name}) <> 0" for name in _ROUTE_COUNTS)
        + " ORDER BY route_key"
    )
    update = (
        f"UPDATE {_ROUTES} AS r SET "
        + ", ".join(f"{name} = r.{name} + t.{name}" for name in _ROUTE_COUNTS)
        + f" FROM ({totals}) AS t WHERE r.route_key = t.route_key"
    )
    return (
        f"WITH changed AS ({changed}), keys AS ({keys}), d AS ({delta}), m AS ({upsert}),"
        f" moved AS ({moved}) {update};"
    )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE FUNCTION pipeline_lineage_route_create() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" INSERT INTO {_ROUTES} (execution_id, route_id) VALUES (NEW.execution_id, NEW.route_id)"
        " ON CONFLICT (execution_id, route_id) DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER pipeline_lineage_route_create AFTER INSERT ON pipeline_lineage_stages"
        " FOR EACH ROW EXECUTE FUNCTION pipeline_lineage_route_create()"
    )
    for event in _EVENTS:
        name = f"pipeline_lineage_message_{event}"
        # The planner cannot estimate the rows of the CTEs and joins the upsert's rows to their
        # deltas in a nested loop (500 × 500 comparisons per batch, 80 % of the trigger's time).
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off AS $$ BEGIN"
            f" {_pg_message_function(event)} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event.upper()} ON pipeline_lineage {_PG_TRANSITIONS[event]}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


# ---------------------------------------------------------------------------------- SQLite


def _sqlite_route_key(row: str) -> str:
    return (
        f"(SELECT r.route_key FROM pipeline_lineage_stages AS s JOIN {_ROUTES} AS r"
        " ON r.execution_id = s.execution_id AND r.route_id = s.route_id"
        f" WHERE s.stage_key = {row}.stage_key)"
    )


def _sqlite_apply(row: str, sign: int) -> str:
    """Statements moving one row (`sign` 1 added, -1 removed) into its message's and route's counts."""
    route_key = _sqlite_route_key(row)
    message = (
        f"FROM {_MESSAGES} AS m WHERE m.route_key = {route_key} AND m.correlation_id = {row}.correlation_id"
        f" AND {_ROUTES}.route_key = m.route_key"
    )

    def route(direction: str) -> str:
        return (
            f"UPDATE {_ROUTES} SET "
            + ", ".join(
                f"{name} = {name} {direction} ({clause})"
                for name, clause in zip(_ROUTE_COUNTS, _classes(_column("m")), strict=True)
            )
            + f" {message};"
        )

    values = ", ".join(
        [
            str(sign),
            *(f"{sign} * ({row}.{clause})" for clause in (_FAILED, _ACTIVE, _CANCELLED)),
        ]
    )
    upsert = (
        f"INSERT INTO {_MESSAGES} (route_key, correlation_id, {', '.join(_MESSAGE_COUNTS)})"
        f" SELECT {route_key}, {row}.correlation_id, {values} WHERE {route_key} IS NOT NULL"
        " ON CONFLICT (route_key, correlation_id) DO UPDATE SET "
        + ", ".join(f"{name} = {name} + excluded.{name}" for name in _MESSAGE_COUNTS)
        + ";"
    )
    return f"{route('-')} {upsert} {route('+')}"


def _sqlite_triggers() -> None:
    op.execute(
        "CREATE TRIGGER pipeline_lineage_route_create AFTER INSERT ON pipeline_lineage_stages FOR EACH ROW"
        f" BEGIN INSERT INTO {_ROUTES} (execution_id, route_id) VALUES (NEW.execution_id, NEW.route_id)"
        " ON CONFLICT (execution_id, route_id) DO NOTHING; END"
    )
    bodies = {
        "insert": ("", _sqlite_apply("NEW", 1)),
        # Only a change of status, stage or message moves counts (most updates add times and hashes).
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

_FILL_ROUTES: Final = (
    f"INSERT INTO {_ROUTES} (execution_id, route_id)"
    " SELECT DISTINCT execution_id, route_id FROM pipeline_lineage_stages"
)
_FILL_MESSAGES: Final = (
    f"INSERT INTO {_MESSAGES} (route_key, correlation_id, {', '.join(_MESSAGE_COUNTS)})"
    " SELECT r.route_key, l.correlation_id, count(*),"
    f" sum(CASE WHEN l.{_FAILED} THEN 1 ELSE 0 END), sum(CASE WHEN l.{_ACTIVE} THEN 1 ELSE 0 END),"
    f" sum(CASE WHEN l.{_CANCELLED} THEN 1 ELSE 0 END)"
    " FROM pipeline_lineage AS l JOIN pipeline_lineage_stages AS s ON s.stage_key = l.stage_key"
    f" JOIN {_ROUTES} AS r ON r.execution_id = s.execution_id AND r.route_id = s.route_id"
    " GROUP BY r.route_key, l.correlation_id"
)
_FILL_COUNTS: Final = f"UPDATE {_ROUTES} SET " + ", ".join(
    f"{name} = (SELECT count(*) FROM {_MESSAGES} AS m WHERE m.route_key = {_ROUTES}.route_key AND {clause})"
    for name, clause in zip(_ROUTE_COUNTS, _classes(_column("m")), strict=True)
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        _ROUTES,
        sa.Column("route_key", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(36), nullable=False),
        sa.Column("route_id", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")) for name in _ROUTE_COUNTS),
        sa.PrimaryKeyConstraint("route_key", name=f"pk_{_ROUTES}"),
        sa.UniqueConstraint("execution_id", "route_id", name=f"uq_{_ROUTES}_route"),
    )
    op.create_table(
        _MESSAGES,
        sa.Column("route_key", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _MESSAGE_COUNTS),
        sa.PrimaryKeyConstraint("route_key", "correlation_id", name=f"pk_{_MESSAGES}"),
    )
    op.execute(_FILL_ROUTES)
    op.execute(_FILL_MESSAGES)
    op.execute(_FILL_COUNTS)
    if dialect == "postgresql":
        _postgres_triggers()
        op.execute(f"ANALYZE {_ROUTES}")
        op.execute(f"ANALYZE {_MESSAGES}")
    else:
        _sqlite_triggers()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for event in _EVENTS:
        name = f"pipeline_lineage_message_{event}"
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON pipeline_lineage")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pipeline_lineage_route_create ON pipeline_lineage_stages")
        op.execute("DROP FUNCTION IF EXISTS pipeline_lineage_route_create()")
    else:
        op.execute("DROP TRIGGER IF EXISTS pipeline_lineage_route_create")
    op.drop_table(_MESSAGES)
    op.drop_table(_ROUTES)
