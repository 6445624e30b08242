"""A route stops even when its queue client swallows the cancellation of a sampling call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from factflow_engine.testing import PipelineHarness
from factflow_infra.queue import MemoryQueueProvider
from factflow_protocols import QueueDepth

PIPELINE = """
version: "1.0"
routes:
  only:
    inbound: {queue: q.in}
    adapters:
      - type: delay
        config: {ms: 500}  # long enough for the control loop to be inside a sampling call
      - type: passthrough
init_message:
  route: only
  payload: {n: 1}
"""


class CancellationSwallowingQueue(MemoryQueueProvider):
    """Blocks every sampling call of a route's control loop and loses its cancellation,
    as a client with that bug does (seen with redis-py's blocking pool)."""

    async def depth(self, queue: str, subscription: str) -> QueueDepth:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("route-control:"):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass  # the bug under test: the cancellation goes missing here
        return await super().depth(queue, subscription)


@pytest.mark.timeout(60)  # without the fix the route's stop hangs for good
async def test_route_stops_although_the_queue_client_swallows_a_cancellation(tmp_path: Path) -> None:
    harness = PipelineHarness(workdir=tmp_path)
    harness.queue = CancellationSwallowingQueue(redelivery_delay_seconds=0.2)
    async with asyncio.timeout(30):
        async with harness:
            execution = await harness.start(PIPELINE)
            result = await execution.wait()
            assert result.status == "completed"
            assert len(result.outputs("only", "passthrough")) == 1
