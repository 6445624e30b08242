from __future__ import annotations

import pytest

from factflow_protocols import InvalidStorageKeyError, validate_storage_key


@pytest.mark.parametrize(
    "key",
    [
        "executions/E/r/s/M.json",
        "executions/E/r/markdown/segments/M.json",
        "a",
        "x/_artefacts/M/page.html",
    ],
)
def test_valid_keys_pass(key: str) -> None:
    assert validate_storage_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a//b", "a/../b", "a/./b", "a\\b", "a/b.json.meta.json", "a/" + "x" * 1030, "a/\x00b", "a/"],
)
def test_invalid_keys_are_refused_with_the_reason(key: str) -> None:
    with pytest.raises(InvalidStorageKeyError) as caught:
        validate_storage_key(key)
    assert caught.value.code == "invalid_key"


def test_prefixes_and_sidecars_when_allowed() -> None:
    assert validate_storage_key("", allow_prefix=True) == ""
    assert validate_storage_key("executions/E/", allow_prefix=True) == "executions/E/"
    assert validate_storage_key("a/b.json.meta.json", allow_sidecar=True) == "a/b.json.meta.json"
