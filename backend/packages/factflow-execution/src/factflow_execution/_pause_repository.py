"""Rows of `route_pause_state`: global pause flags that survive restarts."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine._ports import RoutePause
from factflow_foundation import utc_now

from ._db import session_scope
from ._orm import RoutePauseRow

__all__ = ("RoutePauseRepository",)


def _to_pause(row: RoutePauseRow) -> RoutePause:
    return RoutePause(route_id=row.route_id, paused=row.paused, paused_at=row.paused_at, reason=row.reason)


class RoutePauseRepository:
    """Implements the engine's `PauseStateStore` on table `route_pause_state`.

    Args:
        session_factory: Sessions on the factflow database.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def set_paused(self, route_id: str, *, paused: bool, reason: str | None = None) -> RoutePause:
        """Store the flag (upsert) and return the stored state.

        Pausing an already paused route keeps its original `paused_at`; resuming clears
        `paused_at` and stores `reason` (normally `None`).
        """
        now = utc_now()
        async with session_scope(self._sessions) as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(RoutePauseRow).values(
                route_id=route_id, paused=paused, paused_at=now if paused else None, reason=reason
            )
            excluded = statement.excluded
            if paused:
                # Already paused: keep the first pause time, and the old reason unless a new one is given.
                set_values: dict[str, object] = {
                    "paused": True,
                    "paused_at": case(
                        (RoutePauseRow.paused.is_(True), func.coalesce(RoutePauseRow.paused_at, excluded.paused_at)),
                        else_=excluded.paused_at,
                    ),
                    "reason": case(
                        (RoutePauseRow.paused.is_(True), func.coalesce(excluded.reason, RoutePauseRow.reason)),
                        else_=excluded.reason,
                    ),
                }
            else:
                set_values = {"paused": False, "paused_at": None, "reason": reason}
            await session.execute(statement.on_conflict_do_update(index_elements=["route_id"], set_=set_values))
            row = await session.get(RoutePauseRow, route_id, populate_existing=True)
            assert row is not None  # just upserted in this transaction
            return _to_pause(row)

    async def load_paused(self) -> dict[str, RoutePause]:
        """Every route currently paused, by route id."""
        async with session_scope(self._sessions) as session:
            rows = (await session.execute(select(RoutePauseRow).where(RoutePauseRow.paused.is_(True)))).scalars()
            return {row.route_id: _to_pause(row) for row in rows}

    async def get(self, route_id: str) -> RoutePause | None:
        """The stored state of one route name, or `None` if it was never paused."""
        async with session_scope(self._sessions) as session:
            row = await session.get(RoutePauseRow, route_id)
            return _to_pause(row) if row is not None else None
