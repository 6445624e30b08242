"""The resume walk of a redelivered or re-injected message (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from factflow_engine.conditions import evaluate_condition

from ..storage import StorageBackoff
from ._context import AdapterSlot, LineageLookup
from ._delivery import Branch, Delivery, row_metadata, row_value


class ResumeHost(Protocol):
    """What the resume walk needs of the chain walk that runs it."""

    route_id: str

    def check_stopped(self) -> None: ...

    async def spawn(self, delivery: Delivery, parent: Branch, child: Branch) -> None: ...


__all__ = ("ResumeWalk",)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ResumeWalk:
    """Skips the stages a message already completed in a route, starting at `start_at_adapter`.

    At each adapter `k` the first matching rule applies:

    1. the condition is false → pass the input through;
    2. a fan-out manifest for (route, stage k, message) exists → resume every child from `k+1`
       with its stored output, and the message too if `message_continues`;
    3. the stage output exists → it is the input to `k+1`;
    4. a `completed` row with `result=none` exists for (message, route, k) → the branch ends;
    5. otherwise → adapter `k` runs normally, and so does everything after it.

    The manifest is checked before the output: a fan-out that also continued stored both, and
    only the manifest names the children. Lineage rows are loaded in one query per message, only
    when rule 4 is needed; if lineage is down the walk goes on without them. No rows are written.
    """

    def __init__(
        self,
        runner: ResumeHost,
        *,
        slots: Sequence[AdapterSlot],
        storage_backoff: StorageBackoff,
        lineage_lookup: LineageLookup | None,
        lookup_timeout: float,
    ) -> None:
        self._runner = runner
        self._slots = slots
        self._backoff = storage_backoff
        self._lookup = lineage_lookup
        self._lookup_timeout = lookup_timeout

    async def _read(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        return await self._backoff.run(operation, what=what)

    async def _rows(self, delivery: Delivery, message_id: str) -> list[Any] | None:
        if message_id in delivery.rows:
            return delivery.rows[message_id]
        rows: list[Any] | None = None
        if self._lookup is not None:
            try:
                async with asyncio.timeout(self._lookup_timeout):
                    rows = list(await self._lookup(message_id, self._runner.route_id))
            except Exception as exc:  # lineage down: the walk goes on without rows
                logger.info("Resume walk of %r proceeds without lineage rows (%s)", message_id, exc)
                rows = None
        delivery.rows[message_id] = rows
        return rows

    @staticmethod
    def _ended_without_output(rows: list[Any] | None, index: int) -> bool:
        for row in rows or ():
            if row_value(row, "adapter_index") != index:
                continue
            if str(row_value(row, "stage_status")) == "completed" and row_metadata(row).get("result") == "none":
                return True
        return False

    async def walk(self, delivery: Delivery, branch: Branch) -> tuple[int, dict[str, Any]] | None:
        """Where normal processing continues, or None when nothing is left to run for the branch."""
        index, payload = branch.start_index, branch.payload
        message_id = branch.message_id
        while index < len(self._slots):
            self._runner.check_stopped()
            slot = self._slots[index]
            if slot.condition is not None and not evaluate_condition(slot.condition, payload):
                index += 1
                continue
            storage = slot.storage
            if storage.enabled:
                manifest = await self._read(partial(storage.read_manifest, message_id), "fan-out manifest")
                if manifest is not None:
                    continues = await self._resume_children(delivery, branch, slot, manifest)
                    if continues is False:
                        return None
                    if continues is True:
                        output = await self._read(partial(storage.read_output, message_id), "stage output")
                        if output is not None:
                            payload, index = output, index + 1
                            continue
                else:
                    output = await self._read(partial(storage.read_output, message_id), "stage output")
                    if output is not None:
                        payload, index = output, index + 1
                        continue
            if self._ended_without_output(await self._rows(delivery, message_id), index):
                return None
            break
        return index, payload

    async def _resume_children(
        self, delivery: Delivery, branch: Branch, slot: AdapterSlot, manifest: dict[str, Any]
    ) -> bool | None:
        """Restart the children of a stored fan-out; returns whether the parent continues.

        None when a child's output is missing: the adapter then runs again (its child ids are
        deterministic and publishes are deduplicated, so nothing is doubled).
        """
        children = manifest.get("children")
        if not isinstance(children, list):
            return None
        storage = slot.storage
        outputs: list[tuple[str, dict[str, Any]]] = []
        for child in children:
            child_id = str(child)
            output = await self._read(partial(storage.read_output, child_id), "fan-out child output")
            if output is None:
                return None
            outputs.append((child_id, output))
        for child_id, output in outputs:
            await self._runner.spawn(
                delivery,
                branch,
                Branch(
                    message_id=child_id,
                    parent_id=branch.message_id,
                    payload=output,
                    start_index=slot.index + 1,
                    metadata=branch.metadata,
                    resume=True,
                ),
            )
        return bool(manifest.get("message_continues", False))
