"""`LineageService` (factflow-protocols) over the real sink: rows reach the table through `LineageRecorder`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factflow_lineage import LineageRecorder, LineageRepository
from factflow_protocols import AdapterResult, LineageService, LineageSink, StageChanged, StageInvocation

INVOCATION = StageInvocation(
    execution_id="0195a000-0000-7000-8000-000000000e01",
    route_id="ingest",
    stage_name="parse/html",
    adapter_name="html_parser",
    adapter_index=1,
    correlation_id="0195a000-0000-7000-8000-000000000c01",
)
PAYLOAD = {"url": "https://example.org/guide", "body": "text"}


class EventLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def emit(self, execution_id: str, event: StageChanged) -> None:
        self.events.append((execution_id, event.event_type, event.data()))


async def test_the_recorder_is_a_lineage_sink(db_engine: AsyncEngine) -> None:
    assert isinstance(LineageRecorder(db_engine), LineageSink)


async def test_rows_reach_the_database_through_the_recorder(
    db_engine: AsyncEngine, db_session_factory: async_sessionmaker[AsyncSession]
) -> None:
    events = EventLog()
    async with LineageRecorder(db_engine) as recorder:
        service = LineageService(recorder, event_sink=events)
        row = service.begin(INVOCATION, PAYLOAD)
        row = service.set_pending(row, error=TimeoutError("slow"))
        row = service.resume(row, attempt=2)
        done = service.complete(row, AdapterResult(emitted=[{"i": 0}, {"i": 1}]), storage_key="k.fanout.json")
        skipped = service.skip(INVOCATION, PAYLOAD)
        assert await recorder.flush(INVOCATION.execution_id)
        assert recorder.written_total == 2  # five transitions, two rows

    repository = LineageRepository(db_session_factory)
    stored = await repository.get_entry(done.id)
    stored_skip = await repository.get_entry(skipped.id)
    assert stored is not None and stored_skip is not None
    assert stored.stage_status == "completed"
    assert stored.output_hash == done.output_hash
    assert stored.storage_key == "k.fanout.json"
    assert stored.entry_metadata["attempts"] == 2 and stored.entry_metadata["result"] == "emitted"
    assert stored.error_info is None  # the retried failure does not stick to a completed row
    assert stored_skip.stage_status == "skipped" and stored_skip.output_hash == stored_skip.input_hash
    assert len(events.events) == 5
