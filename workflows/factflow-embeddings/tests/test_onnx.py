from __future__ import annotations

import math
from pathlib import Path

import pytest

from factflow_embeddings import OnnxOptions, OnnxProvider, load_onnx_model
from factflow_engine.testing import run_adapter
from factflow_protocols import NonRetryableError

onnx = pytest.importorskip("onnx", reason="building the test model needs the `onnx` package (dev group)")
tokenizers = pytest.importorskip("tokenizers")

VOCAB = {"[PAD]": 0, "[UNK]": 1, "cat": 2, "dog": 3, "mat": 4}
# Row 0 (padding) is far from every other row: if pooling counted padding, the test would see it.
TABLE = [[100.0, 100.0, 100.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [3.0, 4.0, 0.0]]


def _build_model_dir(directory: Path, *, token_type_ids: bool = True) -> Path:
    """A standard exported layout: `model.onnx` (a lookup table as `last_hidden_state`) and `tokenizer.json`."""
    from onnx import TensorProto, helper

    directory.mkdir(parents=True, exist_ok=True)
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
    ]
    if token_type_ids:
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "sequence"]))
    table = helper.make_tensor("table", TensorProto.FLOAT, [len(TABLE), 3], [value for row in TABLE for value in row])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "tiny-encoder",
        inputs,
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 3])],
        initializer=[table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(directory / "model.onnx"))

    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.normalizer = tokenizers.normalizers.Lowercase()
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


async def test_mean_pooling_over_the_mask_then_normalisation(tmp_path: Path) -> None:
    model_dir = _build_model_dir(tmp_path / "tiny-encoder")
    provider = OnnxProvider(OnnxOptions(model_dir=str(model_dir)))
    await provider.start()
    cat_dog, mat, unknown = await provider.embed(["Cat dog", "mat", "zebra"])
    assert provider.model == "tiny-encoder"
    assert cat_dog == pytest.approx(_normalised([0.5, 0.5, 0.0]), abs=1e-6)
    assert mat == pytest.approx([0.6, 0.8, 0.0], abs=1e-6)  # padded to two tokens; padding ignored
    assert unknown == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)


async def test_without_normalisation_and_without_token_type_ids(tmp_path: Path) -> None:
    model_dir = _build_model_dir(tmp_path / "plain", token_type_ids=False)
    provider = OnnxProvider(OnnxOptions(model_dir=str(model_dir), normalize=False, model_name="plain-v1"))
    (vector,) = await provider.embed(["cat mat"])
    assert provider.model == "plain-v1"
    assert vector == pytest.approx([2.0, 2.0, 0.0], abs=1e-6)


async def test_the_adapter_runs_the_model_and_truncates(tmp_path: Path) -> None:
    model_dir = _build_model_dir(tmp_path / "encoder")
    config = {"provider": "onnx", "onnx": {"model_dir": str(model_dir), "max_length": 1}}
    result = await run_adapter("embedding_generator", {"segment": {"text": "dog cat cat"}}, config=config)
    assert result is not None and result.message is not None
    assert result.message["embedding"] == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)  # only the first token
    assert result.message["embedding_model"] == "encoder" and result.message["embedding_dimensions"] == 3


def test_a_model_is_loaded_once_per_process(tmp_path: Path) -> None:
    model_dir = _build_model_dir(tmp_path / "once")
    assert load_onnx_model(model_dir, max_length=8) is load_onnx_model(model_dir, max_length=8)


async def test_an_incomplete_directory_is_refused_without_downloading(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NonRetryableError, match=r"lacks model\.onnx, tokenizer\.json"):
        await OnnxProvider(OnnxOptions(model_dir=str(tmp_path / "empty"))).start()
