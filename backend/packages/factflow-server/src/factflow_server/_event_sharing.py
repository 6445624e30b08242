"""Live events across the processes of one deployment (docs/reference/http-api.md, "Several servers").

A server's event streams watch executions whose routes may run elsewhere: on the leader while the
stream is open on a standby, on worker processes for the stages they run. Servers announce what
their streams watch and deliver what the others publish (`share_events`); every process that runs
routes publishes the events of watched executions (`WorkerEventSink` in worker processes).
"""

from __future__ import annotations

import logging
from typing import Final

from factflow_execution import EventStamper, ExecutionEventHub, StreamEvent
from factflow_infra.workers import RedisEventChannel
from factflow_protocols import EngineEvent

__all__ = ("WorkerEventSink", "share_events")

logger = logging.getLogger(__name__)

_FROM_WORKERS: Final = frozenset(
    {
        "stage.pending",
        "stage.processing",
        "stage.completed",
        "stage.failed",
        "stage.skipped",
        "stage.cancelled",
        "message.dead_lettered",
        "storage.object.created",
    }
)
"""What a worker's stages tell streams; progress, status and route states come from the server."""


def share_events(hub: ExecutionEventHub, queue_url: str, *, sender: str) -> RedisEventChannel:
    """Publish what `hub` delivers for the other servers' streams, and deliver theirs through it (started)."""
    channel = RedisEventChannel.from_url(queue_url, sender=sender)
    hub.add_tap(lambda execution_id, event: channel.offer(execution_id, event.id, event.event, event.data))
    channel.start(
        lambda execution_id, event_id, name, data: hub.ingest(execution_id, StreamEvent(event_id, name, data)),
        watching=hub.watched_execution_ids,
    )
    hub.add_watch_listener(channel.watch_changed)
    return channel


class WorkerEventSink:
    """A worker process's `EngineEventSink`: its stages' events of executions a server's stream watches.

    Events of unwatched executions cost one set lookup; watched ones of the kinds workers tell
    get their id and standard fields from the worker's own stamper and leave on the channel.
    """

    def __init__(self, channel: RedisEventChannel) -> None:
        self._channel = channel
        self._stamper = EventStamper()

    def emit(self, execution_id: str, event: EngineEvent) -> None:
        """Implements `EngineEventSink.emit`; never raises."""
        if not self._channel.wants(execution_id):
            return
        try:
            event_type = event.event_type
            if event_type not in _FROM_WORKERS:
                return
            stamped = self._stamper.make_event(execution_id, event_type, event.data())
            self._channel.offer(execution_id, stamped.id, stamped.event, stamped.data)
        except Exception:  # observers never break message processing
            logger.exception("Could not publish %r of execution %r", event, execution_id)
