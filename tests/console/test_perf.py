"""The console stays responsive on a big execution: 10,000 messages, a 1,000-node lineage chain.

The only timed assertions of the console tests: first paint of the execution detail (header,
route graph and stage table) and of the lineage explorer, each under 2 s, measured from the
navigation in a browser that already has the console's assets cached (best of three tries).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from factflow_server.testing import RunningServer, embedded_settings, serve_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MESSAGES = 10_000
FIRST_PAINT_SECONDS = 2.0
# Storage is off so building the execution takes seconds; the views under test read lineage
# and counters, not stored objects.
PERF_YAML = """\
version: "1.0"
name: perf-10k
routes:
  fan:
    inbound: {queue: perf.in}
    adapters:
      - type: split
        config: {field: items, item_field: item}
        storage: {enabled: false}
    outbound: [{queue: perf.work}]
  work:
    inbound: {queue: perf.work, concurrency: 32, prefetch: 64}
    adapters:
      - type: passthrough
        storage: {enabled: false}
init_message:
  route: fan
  payload: {items: []}
"""


@pytest.fixture(scope="module")
def big_execution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict[str, Any]]]:
    settings = embedded_settings(tmp_path_factory.mktemp("console-perf"))
    with serve_in_thread(settings) as server, server.client(timeout=300) as api:
        created = api.post("/api/v1/configs", json={"config_yaml": PERF_YAML})
        assert created.status_code == 201, created.text
        overrides = {"init_payload_overrides": {"items": list(range(MESSAGES))}}
        started = api.post(f"/api/v1/configs/{created.json()['id']}/run", json=overrides)
        assert started.status_code == 201, started.text
        waited = api.post(f"/api/v1/executions/{started.json()['id']}/wait", json={"timeout": 240}).json()
        assert waited["status"] == "completed", waited
        detail = api.get(f"/api/v1/executions/{started.json()['id']}").json()
        assert detail["message_counts"]["handled"] == MESSAGES + 1
        yield server, detail


def timed(page: Page, url: str, *ready: Any, attempts: int = 3) -> float:
    """Seconds from navigating to `url` until every locator in `ready` is visible.

    The best of up to `attempts` navigations (stopping at the first under the limit), so a
    moment of load from other processes on a shared machine does not decide the result.
    """
    best = float("inf")
    for _ in range(attempts):
        page.goto("about:blank")
        started = time.monotonic()
        page.goto(url)
        for locator in ready:
            expect(locator).to_be_visible()
        best = min(best, time.monotonic() - started)
        if best < FIRST_PAINT_SECONDS:
            break
    return best


def test_execution_detail_first_paint(page: Page, big_execution: tuple[RunningServer, dict[str, Any]]) -> None:
    server, detail = big_execution
    page.goto(server.base_url + "/system")  # assets cached, as for any view but the first
    seconds = timed(
        page,
        f"{server.base_url}/executions/{detail['id']}",
        page.get_by_test_id("route-work"),
        page.locator('[data-stage="work/passthrough"] [data-testid="completed"]').filter(has_text=str(MESSAGES)),
        page.get_by_test_id("message-counts").filter(has_text=f"handled {MESSAGES + 1}"),
    )
    assert seconds < FIRST_PAINT_SECONDS, f"execution detail took {seconds:.2f} s"
    # The timeline draws every row of the execution (the API serves at most 10,000 of them).
    page.get_by_role("button", name="timeline").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("10,000 rows")


def test_lineage_of_a_thousand_nodes(page: Page, big_execution: tuple[RunningServer, dict[str, Any]]) -> None:
    server, detail = big_execution
    page.goto(server.base_url + "/system")
    root = detail["root_correlation_id"]
    explorer = page.get_by_test_id("lineage-explorer")
    seconds = timed(
        page,
        f"{server.base_url}/lineage/{root}",
        explorer.filter(has_text="999 descendants"),
        page.get_by_test_id(f"message-{root}"),
        page.get_by_test_id("fanout-more").filter(has_text="+991 more"),
    )
    assert seconds < FIRST_PAINT_SECONDS, f"lineage explorer took {seconds:.2f} s"
    # Each click on "+N more" shows 50 more children.
    page.get_by_test_id("fanout-more").click()
    expect(page.get_by_test_id("fanout-more")).to_have_text("+941 more")
    expect(page.locator(".react-flow__node").nth(50)).to_be_attached()
