"""Every replay resolution error, in E12 step order, with its api.md code and nothing created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from factflow_foundation import ExecutionPathResolver, FactflowError, new_id

if TYPE_CHECKING:
    from conftest import Counting, Process, World

SOURCE = """\
version: "1.0"
name: source
routes:
  main:
    inbound: {queue: main.in}
    adapters:
      - {type: counting, stage: a}
      - {type: counting, stage: quiet, storage: {enabled: false}}
      - {type: passthrough}
    outbound: [{queue: side}]
  side:
    inbound: {queue: side}
    adapters: [{type: passthrough}]
init_message:
  route: main
  payload: {n: 1}
"""

INVALID = """\
version: "1.0"
name: invalid
routes:
  r:
    inbound: {queue: r}
    adapters: [{type: no_such_adapter}]
"""

BLOCKING = """\
version: "1.0"
name: blocking
routes:
  r:
    inbound: {queue: r}
    adapters: [{type: counting, stage: hold_me}]
init_message:
  route: r
  payload: {hold: hold_me}
"""


async def expect(process: Process, source_id: str, request: Mapping[str, Any], code: str) -> FactflowError:
    before = await process.execution_count()
    with pytest.raises(FactflowError) as raised:
        await process.replays.replay(source_id, request)
    assert raised.value.code == code, raised.value
    assert await process.execution_count() == before
    return raised.value


async def test_each_resolution_error_has_its_code_and_creates_nothing(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    source = await process.run(SOURCE, tag="the-source")
    assert source.status == "completed"
    sid = source.execution_id
    inactive = await process.config(SOURCE.replace("name: source", "name: inactive"))
    await process.configs.deactivate(inactive)
    invalid = await process.config(INVALID)

    await expect(process, new_id(), {"from_stage": "a"}, "execution_not_found")
    await expect(process, sid, {"from_stage": "a", "config_id": new_id()}, "config_not_found")
    await expect(process, sid, {"from_stage": "a", "config_id": inactive}, "config_inactive")
    await expect(process, sid, {"from_stage": "a", "config_id": invalid}, "config_invalid")
    await expect(process, sid, {"from_stage": "nope"}, "unknown_stage")
    ambiguous = await expect(process, sid, {"from_stage": "passthrough"}, "ambiguous_stage")
    assert ambiguous.context["candidates"] == ["main", "side"]
    await expect(process, sid, {"from_stage": "a", "from_route": "ghost"}, "unknown_route")
    await expect(process, sid, {"from_stage": "quiet"}, "replay_source_empty")  # storage disabled
    missing = await expect(process, sid, {"from_stage": "a", "from_path": "ffff"}, "replay_source_empty")
    assert missing.context["prefix"] == f"executions/{sid}/main/a/"
    await expect(process, sid, {"from_stage": "a", "to_route": "ghost"}, "unknown_route")
    await expect(process, sid, {"from_stage": "passthrough", "from_route": "side"}, "nothing_to_replay")
    await expect(process, sid, {"from_stage": "a", "tag": "the-source"}, "tag_conflict")
    await expect(process, sid, {"from_stage": "a", "replay_source": "lineage"}, "request_validation_error")
    await expect(process, sid, {"from_stage": "a", "replay_source": "manual"}, "request_validation_error")
    await expect(process, sid, {"from_stage": "a", "from_path": "a/b"}, "request_validation_error")
    # The source ref may be its tag; `storage` is the accepted source.
    execution = await process.replays.replay("the-source", {"from_stage": "a", "replay_source": "storage"})
    assert (await process.wait(execution.execution_id)).status == "completed"


async def test_no_free_slot_is_429_and_creates_nothing(sqlite_world: World, counting: type[Counting]) -> None:
    process = await sqlite_world.process(max_concurrent_executions=1)
    source = await process.run(SOURCE)
    blocking = await process.service.create(await process.config(BLOCKING))
    await counting.wait_for(lambda: len(counting.running) == 1)
    await expect(process, source.execution_id, {"from_stage": "a"}, "too_many_concurrent_executions")
    assert counting.gate is not None
    counting.gate.set()
    assert (await process.wait(blocking.execution_id)).status == "completed"


async def test_deleted_source_objects_fail_with_the_prefix_and_start_nothing(sqlite_world: World) -> None:
    process = await sqlite_world.process()
    source = await process.run(SOURCE)
    sid = source.execution_id
    for message_id in await process.stored(sid, "main", "a"):
        await process.storage.delete(ExecutionPathResolver.output_key(sid, "main", "a", message_id))
    error = await expect(process, sid, {"from_stage": "a"}, "replay_source_empty")
    assert f"executions/{sid}/main/a/" in str(error)
    assert process.manager.live_execution_ids() == []
