"""How a failed start is reported: one `ErrorInfo("start_failed")`, one `ExecutionStartError`.

Shared by the manager (building failed, no orchestrator exists) and the orchestrator (starting
adapters, routes or the init message failed), so both report a failed start the same way.
"""

from __future__ import annotations

from typing import Literal

from factflow_protocols import ErrorInfo, QueueError

from ._errors import ExecutionStartError

__all__ = ("StartStep", "describe_error", "start_failure")

StartStep = Literal["configuration", "adapters", "routes", "init_message"]
"""The start step that failed (`error_info.details.step`)."""


def start_failure(execution_id: str, step: StartStep, exc: BaseException) -> tuple[ErrorInfo, ExecutionStartError]:
    """The stored `error_info` of a start that failed at `step`, and the error to raise to the caller."""
    code: Literal["orchestrator_unavailable", "queue_unavailable"] = (
        "queue_unavailable" if _has_queue_error(exc) else "orchestrator_unavailable"
    )
    error_info = ErrorInfo(
        "start_failed",
        f"The execution could not start ({step}): {describe_error(exc)}",
        {"step": step, "error_type": type(exc).__name__, "error_code": code},
    )
    error = ExecutionStartError(
        f"Execution {execution_id!r} could not start: {describe_error(exc)}",
        code=code,
        context={"execution_id": execution_id, "step": step},
    )
    return error_info, error


def describe_error(exc: BaseException) -> str:
    """One line for an error (each member of a group, `timed out` for a timeout)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(inner) for inner in exc.exceptions)
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _has_queue_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_has_queue_error(inner) for inner in exc.exceptions)
    return isinstance(exc, QueueError)
