"""`ExecutionScopedQueue`: the only way an execution reaches the queue provider (docs/concepts/routes-and-stages.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from factflow_engine.config import normalize_queue_name
from factflow_protocols import (
    DeadLetterCallback,
    LostStateCallback,
    MessageHandler,
    PublishStatus,
    QueueDepth,
    QueueMessage,
    QueueProtocol,
    SettledCallback,
    Subscription,
)

from ._accounting import CompletionAccountant

__all__ = ("ExecutionScopedQueue", "scoped_queue_name", "scoped_queue_prefix")

logger = logging.getLogger(__name__)


def scoped_queue_prefix(execution_id: str) -> str:
    """`factflow:{<execution_id>}:` (the braces are literal: a Redis cluster hash tag)."""
    return f"factflow:{{{execution_id}}}:"


def scoped_queue_name(execution_id: str, queue: str) -> str:
    """`factflow:{<execution_id>}:<normalised queue>`."""
    return scoped_queue_prefix(execution_id) + normalize_queue_name(queue)


class ExecutionScopedQueue:
    """Maps logical queue names of one execution to physical ones, and counts publishes.

    * every logical name `q` becomes `factflow:{<execution_id>}:<normalised q>`;
    * every envelope gets `execution_id` stamped;
    * publishes use `dedupe_scope = execution_id`;
    * every publish is reported to the completion accountant.

    Args:
        provider: The queue provider.
        execution_id: The owning execution.
        accountant: Counts publishes to consumed queues; none for tools that only read.
    """

    def __init__(
        self, provider: QueueProtocol, execution_id: str, *, accountant: CompletionAccountant | None = None
    ) -> None:
        self.provider = provider
        self.execution_id = execution_id
        self.accountant = accountant

    def scoped(self, queue: str) -> str:
        """The physical name of logical `queue`."""
        return scoped_queue_name(self.execution_id, queue)

    @property
    def prefix(self) -> str:
        return scoped_queue_prefix(self.execution_id)

    def _stamp(self, message: QueueMessage) -> QueueMessage:
        if message.execution_id == self.execution_id:
            return message
        return message.model_copy(update={"execution_id": self.execution_id})

    async def publish(self, queue: str, message: QueueMessage, *, force: bool = False) -> PublishStatus:
        """Publish `message` to logical `queue` (deduplicated by message id within the execution).

        Raises:
            QueueUnavailableError: the provider cannot be reached; nothing was counted.
        """
        logical = normalize_queue_name(queue)
        counted = self.accountant.begin_publish(logical) if self.accountant is not None else 0
        status: PublishStatus | None = None
        try:
            status = await self.provider.publish(
                self.scoped(logical), self._stamp(message), dedupe_scope=self.execution_id, force=force
            )
        finally:
            if self.accountant is not None:
                self.accountant.end_publish(logical, counted, [(message.id, status)])
        return status

    async def publish_batch(self, queue: str, messages: Sequence[QueueMessage]) -> list[PublishStatus]:
        """Pipelined `publish` of several messages to logical `queue`."""
        if not messages:
            return []
        logical = normalize_queue_name(queue)
        counted = self.accountant.begin_publish(logical, len(messages)) if self.accountant is not None else 0
        statuses: list[PublishStatus] = []
        try:
            statuses = await self.provider.publish_batch(
                self.scoped(logical), [self._stamp(message) for message in messages], dedupe_scope=self.execution_id
            )
        finally:
            if self.accountant is not None:
                outcomes: list[PublishStatus | None] = list(statuses) or [None] * len(messages)
                self.accountant.end_publish(
                    logical, counted, [(message.id, status) for message, status in zip(messages, outcomes, strict=True)]
                )
        return statuses

    async def subscribe(
        self,
        queue: str,
        subscription: str,
        handler: MessageHandler,
        *,
        prefetch: int,
        dead_letter_queue: str,
        on_dead_letter: DeadLetterCallback | None = None,
        on_lost_state: LostStateCallback | None = None,
        on_settled: SettledCallback | None = None,
    ) -> Subscription:
        """Subscribe to logical `queue`; `dead_letter_queue` is logical too."""
        return await self.provider.subscribe(
            self.scoped(queue),
            subscription,
            handler,
            prefetch=prefetch,
            dead_letter_queue=self.scoped(dead_letter_queue),
            on_dead_letter=on_dead_letter,
            on_lost_state=on_lost_state,
            on_settled=on_settled,
        )

    async def depth(self, queue: str, subscription: str) -> QueueDepth:
        """Ready and pending entries of logical `queue` for `subscription`."""
        return await self.provider.depth(self.scoped(queue), subscription)

    async def delete_queues(self, queues: Sequence[str]) -> int:
        """Delete these logical queues of the execution (its DLQs stay unless listed)."""
        return await self.provider.delete_queues([self.scoped(queue) for queue in queues])

    async def cleanup(self) -> int:
        """Purge every queue of the execution, DLQs and dedupe set included."""
        return await self.provider.purge_prefix(self.prefix)
