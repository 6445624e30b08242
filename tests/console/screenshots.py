"""`make screenshots`: regenerate the console screenshots used by `docs/console.md`.

Starts an embedded server with the demo pipeline, runs it and a replay through the API, and
photographs the main views in Debian's chromium. Usage: `python -m tests.console.screenshots DIR`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from factflow_server.testing import embedded_settings, serve_in_thread

from .conftest import PIPELINES_DIR, chromium_path


def shoot(page: Page, out: Path, name: str) -> None:
    """Full-page PNG of the current view, once the network is quiet."""
    page.wait_for_load_state("networkidle")
    page.screenshot(path=out / f"{name}.png", full_page=True)
    print(f"wrote {out / name}.png")


def main(out: Path) -> int:
    """Write the screenshots into `out`; returns the exit code."""
    executable = chromium_path()
    if executable is None:
        print("chromium is not installed (`make chromium`)", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="factflow-screens-") as data_dir:
        settings = embedded_settings(Path(data_dir), pipelines_dir=PIPELINES_DIR)
        with serve_in_thread(settings) as server, server.client() as api, sync_playwright() as playwright:
            config_id = next(c["id"] for c in api.get("/api/v1/configs").json()["configs"] if c["name"] == "demo")
            first = api.post(f"/api/v1/configs/{config_id}/run", params={"tag": "demo-1"}).json()["id"]
            api.post(f"/api/v1/executions/{first}/wait", json={"timeout": 60})
            replay = api.post(f"/api/v1/executions/{first}/replay", json={"from_stage": "delay", "tag": "replay-1"})
            api.post(f"/api/v1/executions/{replay.json()['id']}/wait", json={"timeout": 60})
            detail = api.get(f"/api/v1/executions/{first}").json()
            key = api.get(
                "/api/v1/storage/objects", params={"execution_id": first, "route_id": "review", "limit": 1}
            ).json()["objects"][0]["key"]

            browser = playwright.chromium.launch(executable_path=executable)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            expect.set_options(timeout=30_000)
            base = server.base_url
            page.goto(base + "/")
            expect(page.get_by_test_id("executions-table").locator("tbody tr")).to_have_count(2)
            shoot(page, out, "executions")
            page.goto(f"{base}/executions/{first}")
            expect(page.get_by_test_id("execution-detail")).to_have_attribute("data-status", "completed")
            expect(page.get_by_test_id("stage-table")).to_be_visible()
            shoot(page, out, "execution-detail")
            page.goto(f"{base}/executions/{first}?tab=timeline")
            expect(page.get_by_test_id("timeline")).to_be_visible()
            shoot(page, out, "timeline")
            page.goto(f"{base}/lineage/{detail['root_correlation_id']}")
            expect(page.get_by_test_id("lineage-explorer")).to_contain_text("descendants")
            shoot(page, out, "lineage")
            page.goto(f"{base}/storage/object/{key}")
            expect(page.get_by_test_id("object-metadata")).to_be_visible()
            shoot(page, out, "object")
            page.goto(f"{base}/configs/{config_id}")
            expect(page.get_by_test_id("validation-report")).to_be_visible()
            shoot(page, out, "config")
            page.goto(f"{base}/system")
            expect(page.get_by_test_id("health")).to_be_visible()
            shoot(page, out, "system")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console")))
