"""Fault scenarios through a real server process and real backends, and the figures they report.

Each scenario starts `factflow-server serve` as a child process on PostgreSQL (a schema of its
own), Redis and file or S3 storage, runs a pipeline, breaks one thing mid-run (a backend goes away
and comes back, or the server is killed or stopped and started again) and then checks what a user
relies on: the execution completes, every message has exactly one stored final output and one
completed lineage row at the last stage, nothing is dead-lettered, and `message_counts` equal those
of an undisturbed run. The stall detector is effectively off (10 minutes), so completion never
waits for the safety net.

Each run also reports its **recovery time**: from the backend returning (or the new server process
being launched) to the execution completing, next to the time an undisturbed run needs for the work
that was left at that moment.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from factflow_server.testing import ServerProcess, store_config

__all__ = (
    "FAST",
    "SLOW",
    "REPORT_ENV",
    "FaultRecord",
    "Pipeline",
    "ServerHandle",
    "finish_and_measure",
    "verify_outcome",
)

STALL_DETECTOR_OFF = {"FACTFLOW_STALL_TIMEOUT_SECONDS": "600", "FACTFLOW_STALL_CHECK_INTERVAL_SECONDS": "600"}
REPORT_ENV = "FACTFLOW_FAULT_REPORT"
"""Each run appends its `FaultRecord` as a JSON line to this file (the conftest sets it)."""


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A `split → work` pipeline: `items` messages through `work_yaml` (the last route, stored)."""

    name: str
    items: int
    work_adapters: str
    concurrency: int

    @property
    def published(self) -> int:
        """What an undisturbed run publishes: the init message and one message per item."""
        return self.items + 1

    def yaml(self) -> str:
        return f"""
version: "1.0"
name: {self.name}
error_handling: {{retry_delay_seconds: 0.2, max_retry_delay_seconds: 1}}
routes:
  fanout:
    inbound: {{queue: f.in}}
    adapters:
      - type: split
        config: {{field: items}}
    outbound: [{{queue: f.work}}]
  work:
    inbound: {{queue: f.work, concurrency: {self.concurrency}, prefetch: {2 * self.concurrency}}}
    adapters:
{self.work_adapters}
init_message:
  route: fanout
  payload: {{items: {list(range(self.items))}}}
"""


SLOW = Pipeline(
    name="faults-slow",
    items=200,
    work_adapters="""      - type: delay
        config: {ms: 60}
      - type: set_fields
        config: {values: {worked: true}}""",
    concurrency=4,
)
"""Two hundred 60 ms invocations, four at a time: about 3 s of work to break in the middle of."""

FAST = Pipeline(
    name="faults-fast",
    items=5000,
    work_adapters="""      - type: set_fields
        config: {values: {worked: true}}""",
    concurrency=16,
)
"""Five thousand quick messages: a big run to kill at 40 %."""


@dataclass(slots=True)
class FaultRecord:
    """What one run of one scenario measured."""

    scenario: str
    passed: bool = False
    recovery_seconds: float | None = None
    """From the backend returning (or the server relaunched) to the execution completing."""
    remaining_work_seconds: float | None = None
    """What an undisturbed run needs for the work left at that moment."""
    detail: str = ""


@contextmanager
def recorded(scenario: str) -> Iterator[FaultRecord]:
    """Collect one run's record; it passes when the block ends without an exception."""
    record = FaultRecord(scenario=scenario)
    try:
        yield record
        record.passed = True
    except BaseException as exc:
        record.detail = f"{type(exc).__name__}: {exc}"[:300]
        raise
    finally:
        report = os.environ.get(REPORT_ENV)
        if report:
            with open(report, "a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(record)) + "\n")


@dataclass(slots=True)
class ServerHandle:
    """The server process of a scenario; `restart()` launches a new one on the same settings."""

    tmp_path: Path
    env: dict[str, str]
    process: ServerProcess | None = None
    base_url: str = ""
    launched_at: float = 0.0
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        self.launched_at = time.monotonic()
        self.process = ServerProcess.start(["serve", "--port", "0"], env=self.env, cwd=self.tmp_path)
        try:
            self.base_url = self.process.wait_until_listening()
        except BaseException:
            self.process.kill()
            raise

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()

    def output(self) -> str:
        return self.process.output() if self.process is not None else ""


@contextmanager
def server(tmp_path: Path, env: dict[str, str]) -> Iterator[ServerHandle]:
    """A started server process on `env` (production backends), killed at the end."""
    (tmp_path / "pipelines").mkdir(parents=True, exist_ok=True)
    handle = ServerHandle(
        tmp_path=tmp_path,
        env={
            "FACTFLOW_DATA_DIR": str(tmp_path / "data"),
            "FACTFLOW_PIPELINES_DIR": str(tmp_path / "pipelines"),
            "FACTFLOW_LOG_LEVEL": "WARNING",
            "FACTFLOW_SHUTDOWN_GRACE_SECONDS": "5",
            **STALL_DETECTOR_OFF,
            **env,
        },
    )
    try:
        handle.start()
        yield handle
    finally:
        handle.close()


def start_run(client: httpx.Client, pipeline: Pipeline) -> str:
    response = client.post(f"/api/v1/configs/{store_config(client, pipeline.yaml())}/run")
    assert response.status_code == 201, response.text
    execution_id: str = response.json()["execution_id"]
    return execution_id


def handled(client: httpx.Client, execution_id: str) -> int | None:
    """`message_counts.handled` now, or None while the server cannot answer."""
    try:
        response = client.get(f"/api/v1/executions/{execution_id}", timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    count: int = response.json()["message_counts"]["handled"]
    return count


def wait_for_progress(client: httpx.Client, execution_id: str, fraction: float, pipeline: Pipeline) -> None:
    """Block until `fraction` of the pipeline's messages are handled."""
    target = int(pipeline.published * fraction)
    deadline = time.monotonic() + 120
    while (handled(client, execution_id) or 0) < target:
        assert time.monotonic() < deadline, f"the execution did not reach {target} handled messages"
        time.sleep(0.02)


def wait_for_answer(client: httpx.Client, execution_id: str, *, within: float = 60) -> int:
    """Block until the API answers for the execution again; returns `handled` then."""
    deadline = time.monotonic() + within
    while (count := handled(client, execution_id)) is None:
        assert time.monotonic() < deadline, "the server did not answer again"
        time.sleep(0.02)
    return count


def wait_done(client: httpx.Client, execution_id: str, *, timeout: float = 180) -> dict[str, Any]:
    """E6 until the execution stops; returns the WaitResult."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.post(f"/api/v1/executions/{execution_id}/wait", json={"timeout": 30}, timeout=60)
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200 and response.json()["completed"]:
            result: dict[str, Any] = response.json()
            return result
        assert time.monotonic() < deadline, f"execution {execution_id} did not stop within {timeout} s"
        time.sleep(0.1)


def _pages(client: httpx.Client, path: str, params: dict[str, Any], key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        response = client.get(path, params={**params, "limit": 1000, "offset": len(rows)})
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page[key])
        if not page["has_more"]:
            return rows


def verify_outcome(client: httpx.Client, execution_id: str, result: dict[str, Any], pipeline: Pipeline) -> None:
    """Completed, one stored output and one completed lineage row per message, exact counts."""
    assert result["status"] == "completed", result
    detail = client.get(f"/api/v1/executions/{execution_id}").json()
    counts = detail["message_counts"]
    assert counts["dead_lettered"] == 0, counts
    assert (counts["published"], counts["handled"], counts["in_flight"]) == (
        pipeline.published,
        pipeline.published,
        0,
    ), counts
    last_stage = "set_fields"
    objects = _pages(
        client,
        "/api/v1/storage/objects",
        {"execution_id": execution_id, "route_id": "work", "stage": last_stage},
        "objects",
    )
    outputs = [obj["key"] for obj in objects if not obj["key"].endswith(".fanout.json")]
    assert len(outputs) == len(set(outputs)) == pipeline.items, len(outputs)
    rows = _pages(
        client,
        f"/api/v1/executions/{execution_id}/lineage",
        {},
        "entries",
    )
    completed = [
        row["correlation_id"]
        for row in rows
        if row["route_id"] == "work" and row["stage_name"] == last_stage and row["stage_status"] == "completed"
    ]
    assert len(completed) == len(set(completed)) == pipeline.items, (len(completed), len(set(completed)))
    assert not [row for row in rows if row["stage_status"] in ("pending", "processing")]


def measure_recovery(
    record: FaultRecord, *, back_at: float, done_at: float, handled_at_back: int, pipeline: Pipeline, baseline: float
) -> None:
    """Fill the record's recovery time and the undisturbed time for the work left at `back_at`."""
    record.recovery_seconds = round(done_at - back_at, 2)
    left = max(0, pipeline.published - handled_at_back) / pipeline.published
    record.remaining_work_seconds = round(baseline * left, 2)


def finish_and_measure(
    record: FaultRecord,
    client: httpx.Client,
    execution_id: str,
    *,
    back_at: float,
    pipeline: Pipeline,
    baseline: float,
    resumed: bool = False,
) -> None:
    """After the fault: wait for completion, check the outcome (and the resume), fill the record's figures."""
    handled_at_back = wait_for_answer(client, execution_id)
    result = wait_done(client, execution_id)
    done_at = time.monotonic()
    verify_outcome(client, execution_id, result, pipeline)
    if resumed:  # it was left `interrupted` (or `running` by the dead process) and resumed once
        assert client.get(f"/api/v1/executions/{execution_id}").json()["recovery_count"] == 1
    measure_recovery(
        record, back_at=back_at, done_at=done_at, handled_at_back=handled_at_back, pipeline=pipeline, baseline=baseline
    )


def undisturbed_seconds(
    tmp_path: Path, env: dict[str, str], pipeline: Pipeline, cache: dict[str, float], key: str
) -> float:
    """How long an undisturbed run of `pipeline` takes on these backends (measured once per key)."""
    if key not in cache:
        with server(tmp_path / f"baseline-{key}", env) as handle, handle.client() as client:
            execution_id = start_run(client, pipeline)
            result = wait_done(client, execution_id)
            assert result["status"] == "completed", result
            cache[key] = float(result["duration_ms"]) / 1000
    return cache[key]
