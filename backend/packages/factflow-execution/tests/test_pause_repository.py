from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine._ports import PauseStateStore
from factflow_execution import RoutePauseRepository


async def test_pause_survives_and_resume_clears(session_factory: async_sessionmaker[AsyncSession]) -> None:
    store = RoutePauseRepository(session_factory)
    assert isinstance(store, PauseStateStore)
    assert await store.load_paused() == {}

    paused = await store.set_paused("scrape", paused=True, reason="maintenance")
    assert paused.paused and paused.reason == "maintenance" and paused.paused_at is not None

    again = await store.set_paused("scrape", paused=True)
    assert again.paused_at == paused.paused_at and again.reason == "maintenance"

    await store.set_paused("embed", paused=True)
    # A second repository over the same database sees the flags (they live in the table).
    reloaded = await RoutePauseRepository(session_factory).load_paused()
    assert set(reloaded) == {"scrape", "embed"}
    assert reloaded["scrape"].paused_at == paused.paused_at

    resumed = await store.set_paused("scrape", paused=False)
    assert not resumed.paused and resumed.paused_at is None and resumed.reason is None
    assert set(await store.load_paused()) == {"embed"}
    stored = await store.get("scrape")
    assert stored is not None and not stored.paused
    assert await store.get("never") is None

    repaused = await store.set_paused("scrape", paused=True, reason="again")
    assert repaused.paused and repaused.reason == "again" and repaused.paused_at is not None
