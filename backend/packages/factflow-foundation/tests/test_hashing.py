from __future__ import annotations

import math

import pytest

from factflow_foundation import bytes_checksum, canonical_json, config_hash, content_hash


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": math.nan})


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": [{"y": 1, "x": 2}]}) == content_hash({"b": [{"x": 2, "y": 1}], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({"a": 1}).startswith("sha256:")


def test_config_hash_and_checksum_cover_exact_bytes() -> None:
    assert config_hash("a: 1\n") != config_hash("a: 1")
    assert bytes_checksum(b"abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_content_hash_is_pinned() -> None:
    # Stored lineage hashes are compared across runs and versions: the encoding must not drift.
    payload = {"item": 1234, "batch": "b", "nested": {"z": [1, 2, {"b": 1, "a": 2}], "a": None}}
    assert content_hash(payload) == "sha256:f16193fd53ed2edbf7906f57008ce9e07f48da1851ef849c29d76af961acd4c2"
    assert content_hash((1, {"b": 2, "a": 1})) == content_hash([1, {"a": 1, "b": 2}])


def test_canonical_json_keeps_unicode_and_rejects_what_json_cannot_hold() -> None:
    assert canonical_json("é\u2028") == '"é\u2028"'.encode()
    assert canonical_json([1.5, None, True]) == b"[1.5,null,true]"
    with pytest.raises(TypeError):
        canonical_json({"x": {1, 2}})
