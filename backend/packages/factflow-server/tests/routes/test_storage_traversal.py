"""Storage keys that try to leave the storage root are refused; nothing outside it is ever read.

Requests go through `http.client`, which sends the target exactly as written (httpx would
normalise `..` segments away before they reach the server).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from factflow_server.testing import RunningServer, embedded_settings, serve_in_thread

SECRET = "top-secret-outside-storage"


@pytest.fixture(scope="module")
def jail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    root = tmp_path_factory.mktemp("jail")
    secret = root / "secret.txt"
    secret.write_text(SECRET)
    (root / "secret.txt.meta.json").write_text(json.dumps({"note": SECRET}))
    with serve_in_thread(embedded_settings(root / "data")) as server:
        storage = Path(server.settings.storage_uri.removeprefix("file://"))  # type: ignore[union-attr]
        assert storage.is_relative_to(root / "data") and not secret.is_relative_to(storage)
        yield server, secret


def _hostile_keys(secret: Path) -> list[str]:
    up = "../" * 8
    absolute = str(secret)
    return [
        up + "secret.txt",
        "../secret.txt",
        "executions/../../../secret.txt",
        up.replace("/", "%2f") + "secret.txt",
        up.replace("..", "%2e%2e") + "secret.txt",
        up.replace("..", "%2E%2E").replace("/", "%2F") + "secret.txt",
        "%252e%252e%252f" * 8 + "secret.txt",
        "/" + absolute.lstrip("/"),
        "%2f" + absolute.lstrip("/").replace("/", "%2f"),
        absolute.lstrip("/"),
        up.replace("/", "\\") + "secret.txt",
        up.replace("/", "%5c") + "secret.txt",
        "secret.txt%00",
        "executions%00/" + up + "secret.txt",
        "%00" + up + "secret.txt",
        ".",
        "..",
        "./secret.txt",
    ]


def _get(server: RunningServer, target: str) -> tuple[int, str]:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_hostile_keys_never_read_outside_storage(jail: tuple[RunningServer, Path]) -> None:
    server, secret = jail
    for key in _hostile_keys(secret):
        for target in (
            f"/api/v1/storage/objects/{key}",
            f"/api/v1/storage/objects/{key}/metadata",
            f"/api/v1/storage/objects?prefix={key}",
        ):
            status, body = _get(server, target)
            assert SECRET not in body, target
            if "?prefix=" in target and status == 200:
                # Still encoded after one decoding (`%252e`): a literal prefix that matches nothing.
                assert json.loads(body)["objects"] == [], target
                continue
            assert 400 <= status < 500, (target, status, body)
            envelope = json.loads(body)
            assert envelope["error_code"] in (
                "invalid_key",
                "request_validation_error",
                "object_not_found",
                "not_found",
            )
