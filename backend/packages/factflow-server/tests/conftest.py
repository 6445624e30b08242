from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from factflow_server.testing import RunningServer, factflow_server, factflow_server_factory

__all__ = ("factflow_server", "factflow_server_factory")

REPO_ROOT = Path(__file__).resolve().parents[4]
DEMO_YAML = (REPO_ROOT / "backend" / "config" / "pipelines" / "demo.yaml").read_text()

# One route that sleeps long enough to be observed running; cancellation is immediate.
SLOW_YAML = """\
version: "1.0"
name: slow
orchestrator: {cancel_grace_seconds: 0}
routes:
  sleeper:
    inbound: {queue: slow.in}
    adapters:
      - type: delay
        config: {ms: 60000}
init_message:
  route: sleeper
  payload: {n: 1}
"""

# Valid but broken at run time: the split field is missing, so the message is dead-lettered.
FAILING_YAML = """\
version: "1.0"
name: failing
routes:
  breaker:
    inbound: {queue: fail.in}
    adapters:
      - type: split
        config: {field: items}
init_message:
  route: breaker
  payload: {nothing: here}
"""

INVALID_YAML = """\
version: "1.0"
name: invalid
routes:
  r:
    inbound: {queue: q}
    adapters:
      - type: no_such_adapter
init_message: {route: r}
"""


@pytest.fixture(scope="session")
def demo_yaml() -> str:
    return DEMO_YAML


@pytest.fixture(scope="session")
def slow_yaml() -> str:
    return SLOW_YAML


@pytest.fixture(scope="session")
def failing_yaml() -> str:
    return FAILING_YAML


@pytest.fixture(scope="session")
def invalid_yaml() -> str:
    return INVALID_YAML


@pytest.fixture
def client(factflow_server: RunningServer) -> Iterator[httpx.Client]:
    with factflow_server.client() as c:
        yield c
