"""With `FACTFLOW_API_TOKEN` set, the console asks for the token and sends it on every API call,
event streams included; without it nothing but the (public) console assets load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from factflow_server.testing import RunningServer, embedded_settings, serve_in_thread

from .conftest import PIPELINES_DIR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
TOKEN = "console-s3cret"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = Path(tmp_path_factory.mktemp("console-auth"))
    settings = embedded_settings(data_dir, pipelines_dir=PIPELINES_DIR, api_token=TOKEN)
    with serve_in_thread(settings) as running:
        yield running


def test_the_console_asks_for_the_token_and_sends_it(page: Page, token_server: RunningServer) -> None:
    api_requests: list[Request] = []
    page.on("request", lambda request: api_requests.append(request) if "/api/v1/" in request.url else None)
    with token_server.client(token=TOKEN) as api:
        config_id = next(c["id"] for c in api.get("/api/v1/configs").json()["configs"] if c["name"] == "demo")
        execution = api.post(f"/api/v1/configs/{config_id}/run").json()
        api.post(f"/api/v1/executions/{execution['id']}/wait", json={"timeout": 60})

    # A deep link opened without a token: the API refuses, the console asks.
    page.goto(f"{token_server.base_url}/executions/{execution['id']}")
    prompt = page.get_by_role("form", name="api token")
    expect(prompt).to_be_visible()
    assert api_requests, "the console made no API request"
    assert all("authorization" not in request.headers for request in api_requests)
    prompt.get_by_label("token").fill(TOKEN)
    api_requests.clear()
    with page.expect_request(lambda request: request.url.split("?")[0].endswith("/events")) as stream:
        prompt.get_by_role("button", name="Use token").click()
    assert stream.value.headers.get("authorization") == f"Bearer {TOKEN}"

    detail = page.get_by_test_id("execution-detail")
    expect(detail).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("route-pricing")).to_be_visible()
    expect(page.get_by_test_id("message-counts")).to_contain_text("handled 8")
    # Every API request after the prompt carried the token, the event stream's included.
    assert api_requests
    assert all(request.headers.get("authorization") == f"Bearer {TOKEN}" for request in api_requests)
