from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from factflow_server._console import CONSOLE_DIR, ConsoleFallback, is_console_path, is_reserved_path
from factflow_server.testing import RunningServer, assert_error

ASSETS = sorted(path.name for path in (CONSOLE_DIR / "assets").iterdir())


def test_the_built_console_ships_inside_the_package() -> None:
    index = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    assert '<div id="root"></div>' in index
    assert any(name.endswith(".js") for name in ASSETS)
    for name in ASSETS:
        assert f"/assets/{name}" in index


@pytest.mark.parametrize("path", ["/", "/executions/01a2-does-not-matter", "/lineage/x", "/storage/object/a/b.json"])
def test_console_pages_and_deep_links_get_the_app(factflow_server: RunningServer, path: str) -> None:
    with factflow_server.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<div id="root"></div>' in response.text


def test_hashed_assets_are_served_immutable(factflow_server: RunningServer) -> None:
    script = next(name for name in ASSETS if name.endswith(".js"))
    with factflow_server.client() as client:
        response = client.get(f"/assets/{script}")
        head = client.head(f"/assets/{script}")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content == (CONSOLE_DIR / "assets" / script).read_bytes()
    assert head.status_code == 200


def test_a_missing_asset_is_a_404_not_the_app(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        assert_error(client.get("/assets/index-gone.js"), 404, "not_found")


RESERVED = ["/api/v1/nope", "/api", "/api/v2/executions", "/docs/nope", "/metrics/x", "/openapi.json/x"]


@pytest.mark.parametrize("path", RESERVED)
def test_the_console_never_shadows_the_api_or_operational_paths(factflow_server: RunningServer, path: str) -> None:
    with factflow_server.client() as client:
        assert_error(client.get(path), 404, "not_found")
        assert_error(client.post(path, json={}), 404, "not_found")


def test_api_and_operational_paths_keep_answering(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        assert client.get("/api/v1/executions").json()["executions"] == []
        assert client.get("/openapi.json").json()["info"]["title"] == "factflow"
        assert client.get("/metrics").headers["content-type"].startswith("text/plain")
        assert "swagger" in client.get("/docs").text.lower()
        # A known API path with the wrong method stays a 405, not the console.
        assert_error(client.delete("/api/v1/executions"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/nothing-here", "/favicon.ico", "/executionsx/1"])
def test_paths_outside_the_console_views_stay_404(factflow_server: RunningServer, path: str) -> None:
    with factflow_server.client() as client:
        assert_error(client.get(path), 404, "not_found")


def test_only_get_and_head_reach_the_console(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        assert_error(client.post("/executions/x", json={}), 404, "not_found")


def test_with_a_token_the_console_is_public_and_the_api_is_not(
    factflow_server_factory: Callable[..., RunningServer],
) -> None:
    server = factflow_server_factory(api_token="s3cret")
    with server.client() as anonymous, server.client(token="s3cret") as authorized:
        assert anonymous.get("/").status_code == 200
        assert anonymous.get("/executions/abc").status_code == 200
        assert_error(anonymous.get("/api/v1/executions"), 401, "unauthorized")
        assert authorized.get("/api/v1/executions").status_code == 200


def test_console_paths() -> None:
    assert is_console_path("/")
    assert is_console_path("/executions")
    assert is_console_path("/storage/object/executions/a/b.json")
    assert not is_console_path("/index.htm")
    assert not is_console_path("/assets/x.js")


def test_reserved_paths() -> None:
    assert is_reserved_path("/api")
    assert is_reserved_path("/api/v1/executions")
    assert is_reserved_path("/docs")
    assert not is_reserved_path("/apiary")
    assert not is_reserved_path("/executions/x")


def _fallback_app(directory: Path) -> Starlette:
    app = Starlette()
    app.router.default = ConsoleFallback(app.router.default, directory=directory)
    return app


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


async def test_without_built_assets_a_page_says_how_to_build_them(tmp_path: Path) -> None:
    async with _client(_fallback_app(tmp_path / "absent")) as client:
        response = await client.get("/executions/x")
    assert response.status_code == 200
    assert "make frontend" in response.text


async def test_paths_cannot_escape_the_console_directory(tmp_path: Path) -> None:
    console = tmp_path / "console"
    (console / "assets").mkdir(parents=True)
    (console / "index.html").write_text("<html>index</html>")
    (tmp_path / "secret.txt").write_text("secret")
    async with _client(_fallback_app(console)) as client:
        escapes = ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/assets/%2e%2e/x/secret.txt")
        for path in escapes:
            response = await client.get(path)
            assert "secret" not in response.text
        assert (await client.get("/index.html")).text == "<html>index</html>"
        assert (await client.get("/lineage/deep")).text == "<html>index</html>"
        assert (await client.get("/anything/deep")).status_code == 404
