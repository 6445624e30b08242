from __future__ import annotations

import httpx

from factflow_server.testing import RunningServer, assert_error

BUILTINS = {"passthrough", "split", "filter", "set_fields", "delay", "fail"}


def test_list_adapters_sorted_with_builtins(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        response = client.get("/api/v1/adapters")
    assert response.status_code == 200
    adapters = response.json()["adapters"]
    types = [adapter["type"] for adapter in adapters]
    assert types == sorted(types)
    assert BUILTINS <= set(types)
    split = next(adapter for adapter in adapters if adapter["type"] == "split")
    assert set(split) == {
        "type",
        "class_path",
        "package",
        "package_version",
        "description",
        "config_schema",
        "load_error",
    }
    assert split["package"] == "factflow-builtins"
    assert ":" in split["class_path"]
    assert split["load_error"] is None
    assert "field" in split["config_schema"]["properties"]
    passthrough = next(adapter for adapter in adapters if adapter["type"] == "passthrough")
    assert passthrough["config_schema"] is None


def test_get_one_adapter(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        response = client.get("/api/v1/adapters/delay")
    assert response.status_code == 200
    assert response.json()["type"] == "delay"
    assert response.json()["description"]


def test_unknown_adapter_is_404_with_candidates(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        body = assert_error(client.get("/api/v1/adapters/splitt"), 404, "adapter_not_found")
    assert "splitt" in body["detail"]
    assert body["context"] == {"candidates": ["split"]}


def test_unknown_adapter_without_close_match_has_empty_candidates(factflow_server: RunningServer) -> None:
    with factflow_server.client() as client:
        body = assert_error(client.get("/api/v1/adapters/zzzzzzzz"), 404, "adapter_not_found")
    assert body["context"] == {"candidates": []}


def test_adapters_need_token_when_configured(factflow_server_factory: object) -> None:
    assert callable(factflow_server_factory)
    server: RunningServer = factflow_server_factory(api_token="t0ken")
    with httpx.Client(base_url=server.base_url) as client:
        assert_error(client.get("/api/v1/adapters"), 401, "unauthorized")
    with server.client(token="t0ken") as client:
        assert client.get("/api/v1/adapters").status_code == 200
