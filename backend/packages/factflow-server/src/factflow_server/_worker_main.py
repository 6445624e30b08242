"""Run a `WorkerProcess` under asyncio with factflow's signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from factflow_foundation import FactflowError, FactflowSettings, freeze_startup_heap, raise_young_collection_threshold

from ._version import SERVER_VERSION
from ._worker import WorkerProcess

__all__ = ("run_worker",)

logger = logging.getLogger(__name__)


def run_worker(
    settings: FactflowSettings,
    *,
    pools: Sequence[str],
    worker_id: str,
    concurrency_scale: float = 1.0,
    metrics_port: int | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (0 clean, 1 start-up failure)."""

    def announce() -> None:
        # As `serve` does once started: start-up objects out of every later collection, young
        # collections rarer.
        freeze_startup_heap()
        raise_young_collection_threshold()
        print(
            f"factflow-server {SERVER_VERSION} worker {worker_id} serving pools {', '.join(pools)}",
            file=sys.stderr,
            flush=True,
        )

    process = WorkerProcess(
        settings,
        pools=pools,
        worker_id=worker_id,
        concurrency_scale=concurrency_scale,
        metrics_port=metrics_port,
        on_ready=announce,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _on_signal, process, sig)
        await process.run()

    try:
        asyncio.run(main())
    except (FactflowError, OSError) as exc:
        logger.error("worker start-up failed: %s", exc)
        print(f"factflow-server: worker failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _on_signal(process: WorkerProcess, sig: int) -> None:
    if process.stop_requested.is_set():
        if sig == signal.SIGINT:
            logger.warning("second SIGINT: forcing exit")
            raise SystemExit(130)
        return
    logger.info("received %s: draining", signal.Signals(sig).name)
    process.request_stop()
