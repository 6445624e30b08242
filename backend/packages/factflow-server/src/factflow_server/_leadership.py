"""Several servers on one database (docs/guides/scaling.md): one leader, the others standbys.

The leader holds the PostgreSQL start-up lock and runs the execution lifecycle, completion,
recovery and the janitors. A standby answers health and the read API, relays writes that need
the leader's manager to it through Redis (`_relay.py`; 503 `orchestrator_unavailable` naming the
leader when it does not answer), and retries the lock
every `RETRY_SECONDS`. PostgreSQL drops a session lock as soon as its connection closes, so a
killed leader is replaced within one retry interval, the fence, plus the standby's start of its
leader duties (the same steps a restarted server runs: recovery, janitor, retention, local worker).

A leader checks every `LOCK_CHECK_SECONDS` that its lock connection still holds the lock. When the
connection dropped (a PostgreSQL restart, a terminated session) it takes the lock again; when
another server took it meanwhile, this process exits at once with `LEADERSHIP_LOST_EXIT_CODE`
rather than go on as a second leader. A standby that takes the lock waits `TAKEOVER_FENCE_SECONDS`
before its duties, so a leader that lost only its connection has stopped before recovery
re-attaches its executions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from factflow_infra.database import ServerLock, acquire_server_lock
from factflow_infra.errors import ServerLockHeldError
from factflow_infra.workers import RedisRequestRelay, RelayUnansweredError
from factflow_protocols import QueueUnavailableError

from ._errors import RETRY_AFTER_SECONDS, error_response
from ._relay import RELAY_TIMEOUT_SECONDS, relay_request

__all__ = (
    "LEADERSHIP_LOST_EXIT_CODE",
    "LOCK_CHECK_SECONDS",
    "RETRY_SECONDS",
    "TAKEOVER_FENCE_SECONDS",
    "Leadership",
    "Role",
    "StandbyWritesMiddleware",
)

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
"""How often a standby tries the lock (takeover ≤ this plus the leader duties' start-up)."""

LOCK_CHECK_SECONDS = 1.0
"""How often a leader checks that its connection still holds the lock."""

TAKEOVER_FENCE_SECONDS = 3.0
"""How long a standby that took the lock waits before its duties: a leader that lost only its lock
connection notices within `LOCK_CHECK_SECONDS` (plus the check itself) and exits first."""

LEADERSHIP_LOST_EXIT_CODE = 75
"""Exit status of a leader that found another server holding its lock (a temporary failure:
restart it and it stands by). Also a standby whose leader duties failed to start after it took
the lock, so a restart tries the takeover again from a clean process."""

Role = Literal["leader", "standby"]

LeaderDuties = Callable[[], Awaitable[None]]
"""Starts what only the leader runs (recovery, janitor, retention, local worker)."""

LeadershipLost = Callable[[str], None]
"""Ends this server's leadership for good (the reason is logged first); by default exits the process."""


def exit_process(reason: str) -> None:
    """Exit at once, like a crash.

    A graceful stop would mark as `interrupted` the executions the new leader is resuming.
    Lineage still buffered is rebuilt by the new leader's recovery, as after a `kill -9`.
    """
    logging.shutdown()
    os._exit(LEADERSHIP_LOST_EXIT_CODE)


class Leadership:
    """This server's role, and on a standby the loop that takes the lock when the leader dies.

    Args:
        engine: The server's database engine (the lock is held on one of its connections).
        relay: Requests from standbys to the leader (Redis queue only).
        lock: The lock when this server leads from the start, None on a standby.
        lock_key: The advisory key (None: the product key for the URL's schema).
        leader: On a standby, who holds the lock.
        on_lost: Called when this server can no longer lead (another server holds the lock, or
            the duties failed after a takeover); `exit_process` unless a test passes its own.
        fence_seconds: How long a standby that took the lock waits before its duties.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lock: ServerLock | None,
        lock_key: int | None,
        leader: str | None = None,
        relay: RedisRequestRelay | None = None,
        on_lost: LeadershipLost = exit_process,
        fence_seconds: float = TAKEOVER_FENCE_SECONDS,
    ) -> None:
        self._engine = engine
        self._on_lost = on_lost
        self._fence_seconds = fence_seconds
        self._watch_task: asyncio.Task[None] | None = None
        self.relay = relay
        """Carries a standby's writes to the leader (Redis queue only; None: they get 503)."""
        self._lock = lock
        self._lock_key = lock_key
        self.leader = leader
        """Who holds the lock while this server stands by (None once it leads)."""
        self._task: asyncio.Task[None] | None = None
        self._leading = lock is not None
        """Set once the lock is held and the leader's duties started (recovery ran)."""

    @property
    def role(self) -> Role:
        return "leader" if self._leading else "standby"

    def describe(self) -> str:
        """`leader`, or `standby (leader: <holder>)`: the health note."""
        if self._leading:
            return "leader"
        if self._lock is not None:
            return "standby (taking over: recovery in progress)"
        return f"standby (leader: {self.leader or 'unknown'})"

    def stand_by(self, duties: LeaderDuties) -> None:
        """On a standby: retry the lock in the background, then run `duties` and lead; idempotent."""
        if self._lock is None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._take_over(duties), name="server:standby")

    async def _take_over(self, duties: LeaderDuties) -> None:
        while True:
            try:
                lock = await acquire_server_lock(self._engine, lock_key=self._lock_key)
            except ServerLockHeldError as exc:
                self.leader = str(exc.context.get("holder") or self.leader)
            except Exception as exc:  # the database is away: keep standing by
                logger.warning("standby could not try the server lock: %s", exc)
            else:
                break
            await asyncio.sleep(RETRY_SECONDS)
        self._lock, self.leader = lock, "this server"
        logger.warning("took the server lock: starting the leader's duties in %.0f s", self._fence_seconds)
        await asyncio.sleep(self._fence_seconds)
        try:
            await duties()
        except Exception as exc:
            logger.exception("starting the leader's duties failed after the takeover")
            self._lose(f"its leader duties failed to start after the takeover ({exc})")
            return
        # Writes are accepted once recovery re-attached the executions the old leader ran.
        self._leading = True
        logger.warning("this server is now the leader")
        self.keep_leading()

    def keep_leading(self) -> None:
        """On the leader: check the lock every `LOCK_CHECK_SECONDS` (see the module doc); idempotent."""
        if self._leading and self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_lock(), name="server:lock-watch")

    async def _watch_lock(self) -> None:
        unavailable_logged = False
        while True:
            await asyncio.sleep(LOCK_CHECK_SECONDS)
            lock = self._lock
            if lock is None or await _answers_held(lock):
                unavailable_logged = False
                continue
            with contextlib.suppress(Exception):  # the connection is gone; this closes what is left
                async with asyncio.timeout(_LOCK_QUERY_TIMEOUT_SECONDS):
                    await lock.release()
            try:
                self._lock = await acquire_server_lock(self._engine, lock_key=self._lock_key)
            except ServerLockHeldError as exc:
                holder = str(exc.context.get("holder") or "another server")
                if f"{lock.holder[:63]!r} (" in holder:
                    # This server's own earlier session, not yet gone on the database side: nobody
                    # else can take the lock while it lives, so this server still leads alone.
                    continue
                self._lose(f"another server took the server lock while this one's connection was lost: {holder}")
                return
            except Exception as exc:
                # Nobody can take the lock while the database is away; take it again once it is back.
                if not unavailable_logged:
                    logger.warning(
                        "lost the server lock's connection (%s); taking the lock again once the database answers", exc
                    )
                    unavailable_logged = True
            else:
                logger.warning("the server lock's connection was lost; took the lock again")
                unavailable_logged = False

    def _lose(self, reason: str) -> None:
        """Stop leading for good: `on_lost` (by default, exit the process)."""
        self._leading = False
        logger.critical("this server stops leading: %s; exiting with status %d", reason, LEADERSHIP_LOST_EXIT_CODE)
        self._on_lost(reason)

    async def stop_standing_by(self) -> None:
        """Stop the lock retries and the lock watch (shutdown); idempotent."""
        tasks = (self._task, self._watch_task)
        self._task = self._watch_task = None
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def release(self) -> None:
        """Give the lock up, if this server leads; idempotent."""
        await self.stop_standing_by()
        if self._lock is not None:
            await self._lock.release()


_LOCK_QUERY_TIMEOUT_SECONDS = 5.0
"""A lock check that hangs this long (a half-open connection) counts as a lost connection."""


async def _answers_held(lock: ServerLock) -> bool:
    try:
        async with asyncio.timeout(_LOCK_QUERY_TIMEOUT_SECONDS):
            return await lock.is_held()
    except TimeoutError:
        return False


# Writes that need the leader's manager, and waits (the end of an execution is signalled in the
# leader's process); everything else a standby answers from the database.
_LEADER_WRITES = re.compile(
    r"^/api/v1/(?:executions(?:/[^/]+(?:/(?:cancel|replay|wait))?)?|replay|pipelines/[^/]+|configs/[^/]+/run)$"
)


class StandbyWritesMiddleware:
    """On a standby, relays writes that need the leader's manager to the leader (`_relay.py`).

    Runs a config, creates/edits/deletes/cancels/replays an execution, pauses or resumes a route,
    and waits for an execution (only the leader's process sees it end). Storing configs (a
    database write) and reads are served locally. Without a relay (memory queue), or when the
    leader does not answer in time, such a request gets 503 `orchestrator_unavailable`.
    """

    def __init__(self, app: ASGIApp, *, leadership: Callable[[], Leadership | None]) -> None:
        self.app = app
        self._leadership = leadership

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            path = scope["path"]
            leadership = self._leadership()
            if leadership is not None and leadership.role == "standby" and _LEADER_WRITES.match(path):
                await self._forward(scope, receive, send, leadership)
                return
        await self.app(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, leadership: Leadership) -> None:
        response: Response | None = None
        reason = "this server is a standby without a relay to the leader"
        applied: bool | None = False
        if leadership.relay is not None:
            try:
                response = await relay_request(scope, receive, leadership.relay)
            except QueueUnavailableError as exc:
                reason, applied = f"the relay to the leader is unavailable ({exc})", None
            except RelayUnansweredError as exc:
                reason, applied = f"{exc}, so it may have been carried out: check before you retry", None
            else:
                reason = f"no leader took the request within {RELAY_TIMEOUT_SECONDS:g} s, so nothing was done"
        if response is None:
            response = _standby_answer(scope, leadership, reason, applied=applied)
        await response(scope, receive, send)


def _standby_answer(scope: Scope, leadership: Leadership, reason: str, *, applied: bool | None) -> JSONResponse:
    """503 `orchestrator_unavailable`; `context.applied`: False when the write surely did not happen, else None."""
    leader = leadership.leader or "another server"
    state: dict[str, Any] = scope.get("state") or {}
    return error_response(
        str(state.get("correlation_id", "")),
        503,
        "orchestrator_unavailable",
        f"This server is a standby and {reason}; the leader is {leader}. Retry later or send it to the leader.",
        context={"role": "standby", "leader": leader, "applied": applied},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
