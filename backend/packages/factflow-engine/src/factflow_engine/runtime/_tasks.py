"""Sibling task groups that behave on Python 3.11.

`asyncio.TaskGroup` on 3.11 leaves its parent task with a pending cancellation request when a
child fails while the parent already waits in `__aexit__` (fixed in 3.12); every later
`asyncio.timeout()` in that task then misfires. These helpers give the same structure — named
children, first failure cancels the siblings, the starter waits for all of them, its own
cancellation cancels them — without touching the parent's cancellation state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

__all__ = ("SiblingTasks", "run_siblings")


class SiblingTasks:
    """Tasks started by one owner; `join()` waits for all, failing fast on the first error."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        return task

    async def cancel_all(self) -> None:
        """Cancel every running task and wait until all ended."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks.clear()

    async def join(self) -> None:
        """Wait for every task (tasks may start more meanwhile).

        Raises:
            BaseException: the first task's error (others are cancelled first); an
                `ExceptionGroup` when several failed at once.
        """
        try:
            while self._tasks:
                done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
                self._tasks -= done
                errors = [task.exception() for task in done if not task.cancelled() and task.exception() is not None]
                if errors:
                    await self.cancel_all()
                    if len(errors) == 1:
                        raise errors[0]  # type: ignore[misc]  # checked not None above
                    raise BaseExceptionGroup("sibling tasks failed", [error for error in errors if error is not None])
        except asyncio.CancelledError:
            await self.cancel_all()
            raise


async def run_siblings(coroutines: Iterable[tuple[str, Coroutine[Any, Any, Any]]]) -> None:
    """Run named coroutines concurrently; the first failure cancels the rest and is raised."""
    siblings = SiblingTasks()
    for name, coroutine in coroutines:
        siblings.start(coroutine, name=name)
    await siblings.join()
