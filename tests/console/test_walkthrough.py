"""The getting-started walkthrough, done in the console: run the demo pipeline, watch it complete
live, inspect its DAG, lineage and stored objects, pause and resume a route, replay a stage."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from factflow_server.testing import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def api(console_server: RunningServer) -> Iterator[httpx.Client]:
    with console_server.client() as client:
        yield client


def demo_config_id(api: httpx.Client) -> str:
    configs = api.get("/api/v1/configs").json()["configs"]
    return str(next(config["id"] for config in configs if config["name"] == "demo"))


def run_demo_in_console(page: Page, base_url: str, *, tag: str) -> str:
    """From the executions list to the demo config, run it with `tag`; returns the execution id."""
    page.goto(base_url + "/")
    page.get_by_role("link", name="Configs").click()
    page.get_by_role("link", name="demo", exact=True).click()
    expect(page.get_by_test_id("validation-report")).to_contain_text("Valid")
    page.get_by_label("run tag").fill(tag)
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_getting_started_in_the_console(page: Page, console_server: RunningServer, api: httpx.Client) -> None:
    base = console_server.base_url

    # Run the demo pipeline and watch it complete live (the page is not reloaded).
    execution_id = run_demo_in_console(page, base, tag="console-first")
    detail = page.get_by_test_id("execution-detail")
    expect(detail).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("message-counts")).to_contain_text("handled 8")

    # The DAG: three routes with their live counters, and the per-stage table.
    for route in ("intake", "pricing", "review"):
        expect(page.get_by_test_id(f"route-{route}")).to_be_visible()
    expect(page.get_by_test_id("route-pricing").get_by_test_id("handled")).to_have_text("✔ 5")
    expect(page.locator('[data-stage="pricing/delay"] [data-testid="completed"]')).to_have_text("5")
    expect(page.locator('[data-stage="pricing/bulk_flag"]')).to_contain_text("3")  # three small items skipped

    # The executions list shows it, with its tag, found by the tag filter.
    page.get_by_role("link", name="Executions").click()
    page.get_by_label("tag filter").fill("console-first")
    page.get_by_label("tag filter").press("Enter")
    row = page.locator(f'tr[data-execution-id="{execution_id}"]')
    expect(row).to_contain_text("completed")
    expect(page.get_by_test_id("executions-table").locator("tbody tr")).to_have_count(1)

    # Lineage: from the init message, its five line items; one opens its stored output and input.
    row.get_by_role("link").first.click()
    page.get_by_role("link", name=re.compile("^lineage of")).click()
    explorer = page.get_by_test_id("lineage-explorer")
    expect(explorer).to_contain_text("5 descendants")
    root_id = api.get(f"/api/v1/executions/{execution_id}").json()["root_correlation_id"]
    children = api.get(f"/api/v1/lineage/{root_id}/children").json()["children"]
    child_id = children[0]["correlation_id"]
    page.get_by_test_id(f"message-{child_id}").click()
    panel = page.get_by_test_id("message-panel")
    expect(panel).to_contain_text(child_id)
    panel.get_by_role("row", name="pricing/delay").get_by_role("button", name="Open output").click()
    # Input (here the fan-out manifest naming this branch) beside the stage's own output.
    expect(panel.get_by_test_id("object-content").first).to_contain_text(child_id)
    expect(panel.get_by_test_id("object-content").last).to_contain_text('"sku"')
    expect(panel.get_by_test_id("object-metadata").last).to_contain_text('"stage": "delay"')

    # Storage: the execution's objects by route and stage; one object with content and sidecar.
    page.goto(f"{base}/executions/{execution_id}")
    page.get_by_role("link", name="Browse stored objects").click()
    browser_view = page.get_by_test_id("storage-browser")
    browser_view.get_by_role("row", name="pricing/").click()
    browser_view.get_by_role("row", name="delay/").click()
    objects = browser_view.locator("tr[data-key]")
    expect(objects).to_have_count(5)
    objects.first.click()
    expect(page.get_by_test_id("object-content")).to_contain_text('"order_id": "ORD-1001"')
    expect(page.get_by_test_id("object-metadata")).to_contain_text('"stage": "delay"')

    # Pause `pricing`: a new run stays running with its items waiting; resume it and it completes.
    page.goto(f"{base}/executions/{execution_id}")
    page.get_by_test_id("route-pricing").get_by_role("button", name="Pause route").click()
    expect(page.get_by_test_id("route-pricing")).to_have_attribute("data-paused", "true")
    paused_id = run_demo_in_console(page, base, tag="console-paused")
    expect(page.get_by_test_id("route-pricing")).to_have_attribute("data-paused", "true")
    expect(page.get_by_test_id("route-intake").get_by_test_id("handled")).to_have_text("✔ 1")
    expect(page.get_by_test_id("message-counts")).to_contain_text("in flight 5")
    expect(detail).to_have_attribute("data-status", "running")
    page.get_by_test_id("route-pricing").get_by_role("button", name="Resume route").click()
    expect(page.get_by_test_id("route-pricing")).to_have_attribute("data-paused", "false")
    expect(detail).to_have_attribute("data-status", "completed")
    assert api.get(f"/api/v1/executions/{paused_id}").json()["status"] == "completed"

    # Replay: a resolution error is shown as the API gives it, then a replay from `pricing/delay`
    # runs as a new execution that completes.
    page.goto(f"{base}/executions/{execution_id}")
    replay = page.get_by_role("form", name="replay")
    replay.get_by_label("from stage").select_option(label="pricing / delay")
    replay.get_by_label("to route").fill("nowhere")
    replay.get_by_role("button", name="Replay").click()
    expect(replay.get_by_role("alert")).to_contain_text("400 unknown_route")
    replay.get_by_label("to route").fill("")
    replay.get_by_label("replay tag").fill("console-replay")
    replay.get_by_role("button", name="Replay").click()
    page.wait_for_url(lambda url: "/executions/" in url and execution_id not in url)
    replay_id = page.url.rsplit("/", 1)[1]
    expect(detail).to_have_attribute("data-execution-id", replay_id)
    expect(detail).to_have_attribute("data-status", "completed")
    expect(detail).to_contain_text(f"Replay of{execution_id}")
    replayed = api.get("/api/v1/executions/console-replay").json()
    assert replayed["id"] == replay_id
    assert replayed["parent_execution_id"] == execution_id
    assert replayed["status"] == "completed"


def test_deep_links_open_their_view(page: Page, console_server: RunningServer, api: httpx.Client) -> None:
    config_id = demo_config_id(api)
    execution = api.post(f"/api/v1/configs/{config_id}/run", params={"tag": "deep-link"}).json()
    api.post(f"/api/v1/executions/{execution['id']}/wait", json={"timeout": 60})
    execution = api.get(f"/api/v1/executions/{execution['id']}").json()
    key = api.get("/api/v1/storage/objects", params={"execution_id": execution["id"], "stage": "split"}).json()[
        "objects"
    ][0]["key"]
    base = console_server.base_url

    page.goto(f"{base}/executions/{execution['id']}?tab=timeline")
    expect(page.get_by_test_id("timeline")).to_contain_text("rows")
    page.goto(f"{base}/storage/object/{key}")
    expect(page.get_by_test_id("object-metadata")).to_contain_text('"stage": "split"')
    page.goto(f"{base}/lineage/{execution['root_correlation_id']}")
    expect(page.get_by_test_id("lineage-explorer")).to_contain_text("5 descendants")
    page.goto(f"{base}/?status=completed&tag=deep-link")
    expect(page.get_by_test_id("executions-table").locator("tbody tr")).to_have_count(1)


BROKEN_YAML = """\
version: "1.0"
name: broken
routes:
  main:
    inbound: {queue: q}
    adapters:
      - type: no_such
"""


def test_config_editor_shows_issues_at_their_line(page: Page, console_server: RunningServer) -> None:
    page.goto(console_server.base_url + "/configs/new")
    editor = page.get_by_label("config yaml")
    editor.fill(BROKEN_YAML)
    report = page.get_by_test_id("validation-report")
    expect(report).to_contain_text("Invalid")
    expect(report.locator("li.error").first).to_contain_text("line 7")
    expect(page.locator(".gutter .error")).to_have_text("7")


def test_executions_list_updates_live(page: Page, console_server: RunningServer, api: httpx.Client) -> None:
    paused = api.patch("/api/v1/pipelines/pricing", json={"state": "paused", "reason": "test"})
    assert paused.status_code == 200, paused.text
    execution = api.post(f"/api/v1/configs/{demo_config_id(api)}/run", params={"tag": "live-list"}).json()

    page.goto(f"{console_server.base_url}/?tag=live-list")
    row = page.locator(f'tr[data-execution-id="{execution["id"]}"]')
    expect(row.get_by_text("running")).to_be_visible()

    # Its storage in a second tab: only `intake` has written so far.
    storage = page.context.new_page()
    storage.goto(f"{console_server.base_url}/storage?execution={execution['id']}")
    folders = storage.get_by_test_id("storage-table")
    expect(folders.get_by_role("row", name="intake/")).to_be_visible()
    expect(folders.get_by_role("row", name="pricing/")).to_have_count(0)

    # Resume from the Routes view in a third; the list and the storage browser follow without a reload.
    routes = page.context.new_page()
    routes.goto(f"{console_server.base_url}/pipelines")
    route_row = routes.get_by_role("row").filter(has_text="live-list").filter(has_text="pricing")
    expect(route_row).to_contain_text("(paused)")
    route_row.get_by_role("button", name="Resume").click()
    expect(row.get_by_text("completed")).to_be_visible()
    expect(folders.get_by_role("row", name="pricing/")).to_be_visible()
    expect(folders.get_by_role("row", name="review/")).to_be_visible()
    routes.close()
    storage.close()
    assert api.get("/api/v1/executions/live-list").json()["status"] == "completed"
