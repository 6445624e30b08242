"""`onnx`: a local exported model (`model.onnx` + `tokenizer.json`) run with ONNX Runtime, off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factflow_protocols import NonRetryableError

from ._config import OnnxOptions
from ._provider import EmbeddingProvider

if TYPE_CHECKING:
    import numpy as np

__all__ = ("OnnxModel", "OnnxProvider", "load_onnx_model")

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"

_cache: dict[tuple[str, int, int | None], OnnxModel] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class OnnxModel:
    """A loaded session and tokenizer; shared by every adapter of the process that names the same directory."""

    session: Any
    tokenizer: Any
    input_names: frozenset[str]
    output_index: int

    def encode(self, texts: Sequence[str], *, normalize: bool) -> list[list[float]]:
        """Tokenise, run the model, mean-pool over the attention mask, optionally L2-normalise."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.array([encoding.type_ids for encoding in encodings], dtype=np.int64)
        outputs = self.session.run(None, {name: value for name, value in feeds.items() if name in self.input_names})
        hidden: np.ndarray[Any, Any] = np.asarray(outputs[self.output_index], dtype=np.float32)
        if hidden.ndim == 3:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        elif hidden.ndim == 2:  # the export already pools (a `sentence_embedding` output)
            pooled = hidden
        else:
            raise NonRetryableError(f"the model's output has {hidden.ndim} dimensions; expected 2 or 3")
        if normalize:
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return [[float(value) for value in row] for row in pooled]


def load_onnx_model(model_dir: Path, *, max_length: int, threads: int | None = None) -> OnnxModel:
    """Load (once per process and settings) the model and tokenizer of `model_dir`; never downloads."""
    key = (str(model_dir.resolve()), max_length, threads)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        model_path, tokenizer_path = model_dir / MODEL_FILE, model_dir / TOKENIZER_FILE
        missing = [path.name for path in (model_path, tokenizer_path) if not path.is_file()]
        if missing:
            raise NonRetryableError(f"the ONNX model directory {str(model_dir)!r} lacks {', '.join(missing)}")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise NonRetryableError(
                "the `onnx` provider needs onnxruntime, tokenizers and numpy: install factflow-embeddings[onnx]"
            ) from exc
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        if tokenizer.truncation is None or tokenizer.truncation.get("max_length", max_length) > max_length:
            tokenizer.enable_truncation(max_length)
        if tokenizer.padding is None:
            tokenizer.enable_padding()
        session_options = onnxruntime.SessionOptions()
        if threads is not None:
            session_options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        input_names = frozenset(item.name for item in session.get_inputs())
        output_names = [item.name for item in session.get_outputs()]
        output_index = output_names.index("last_hidden_state") if "last_hidden_state" in output_names else 0
        model = OnnxModel(session, tokenizer, input_names, output_index)
        _cache[key] = model
        return model


class OnnxProvider(EmbeddingProvider):
    """Sentence embeddings from a local model: mean pooling, L2 normalisation, no network ever."""

    def __init__(self, options: OnnxOptions) -> None:
        self.options = options
        self.model_dir = Path(options.model_dir).expanduser()
        self.model = options.model_name or self.model_dir.name
        self._model: OnnxModel | None = None

    async def start(self) -> None:
        if self._model is None:
            self._model = await asyncio.to_thread(
                load_onnx_model, self.model_dir, max_length=self.options.max_length, threads=self.options.threads
            )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await self.start()
        assert self._model is not None
        return await asyncio.to_thread(self._model.encode, list(texts), normalize=self.options.normalize)
