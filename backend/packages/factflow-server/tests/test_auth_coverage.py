"""With `FACTFLOW_API_TOKEN` set, every route of the app refuses a request without the token.

The routes come from `app.routes`, so a route added later is covered without editing this test;
only the documented public paths are exempt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from factflow_server.testing import RunningServer, assert_error, embedded_settings, serve_in_thread

TOKEN = "route-coverage-token"
PUBLIC = frozenset(
    {
        ("GET", "/api/v1/system/health"),
        ("HEAD", "/api/v1/system/health"),
        # Outside `/api/v1`: for scrapers and API tooling (docs/reference/api.md, "Authentication").
        ("GET", "/metrics"),
        ("HEAD", "/metrics"),
        ("GET", "/openapi.json"),
        ("HEAD", "/openapi.json"),
        ("GET", "/docs"),
        ("HEAD", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("HEAD", "/docs/oauth2-redirect"),
    }
)
_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
_SAMPLES = {"config_id": "01a20000-0000-7000-8000-000000000000", "key": "executions/x/y.json"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve_in_thread(embedded_settings(tmp_path_factory.mktemp("auth"), api_token=TOKEN)) as running:
        yield running


def _routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every endpoint with its full path template, looking inside included routers."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + getattr(route, "include_context", None).prefix)  # type: ignore[union-attr]
            continue
        assert isinstance(route, Route), route
        yield prefix + route.path, route


def _requests(server: RunningServer) -> list[tuple[str, str]]:
    found = []
    for template, route in _routes(server.app.routes):
        path = _PARAMETER.sub(lambda match: _SAMPLES.get(match.group(1), "sample"), template)
        for method in sorted(route.methods or ()):
            found.append((method, template if (method, template) in PUBLIC else path))
    return found


def test_every_route_but_the_public_ones_needs_the_token(secured: RunningServer) -> None:
    requests = _requests(secured)
    api_routes = [route for _path, route in _routes(secured.app.routes) if isinstance(route, APIRoute)]
    assert len(api_routes) >= 40  # the enumeration really sees the API
    checked = 0
    with secured.client() as anonymous, secured.client(token="wrong") as wrong:
        for method, path in requests:
            if (method, path) in PUBLIC:
                continue
            for client in (anonymous, wrong):
                response = client.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
                body = assert_error(response, 401, "unauthorized")
                assert response.headers["www-authenticate"] == "Bearer", (method, path)
                assert TOKEN not in str(body)
            checked += 1
    assert checked >= 39  # every `/api/v1` operation but health


def test_public_paths_answer_without_the_token(secured: RunningServer) -> None:
    with secured.client() as anonymous:
        for method, path in sorted(PUBLIC):
            if method == "GET":
                assert anonymous.get(path).status_code in (200, 503), path


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/", "/api/v1/unknown", "/api/v1/configs/"])
def test_unrouted_api_paths_need_the_token_too(secured: RunningServer, path: str) -> None:
    with secured.client() as anonymous:
        assert_error(anonymous.get(path), 401, "unauthorized")


def test_the_token_opens_the_api(secured: RunningServer) -> None:
    with secured.client(token=TOKEN) as client:
        assert client.get("/api/v1/configs").status_code == 200
        assert client.get("/api/v1/system/metrics").status_code == 200
