"""Load each base model once per process, from a folder, a dequantized-GGUF cache or the hub.

Dequantizing a GGUF takes 20-60 s, so the first load writes a safetensors copy under the cache
folder (to a temporary folder, renamed when complete); every later start reads that copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from models.batching import release_openmp_threads
from models.cpu_fastpath.bf16 import (cpu_has_fast_bf16, head_outweighs_layers, use_bf16_body_matmuls,
                                      use_bf16_output_head)
from models.cpu_fastpath.small_batch import use_small_batch_matmuls
from models.engine import use_ragged_attention
from models.registry import BaseModelSpec, WeightsLocation, cache_dir, get_spec, resolve

_MODEL_CLASSES = {
    "causal": AutoModelForCausalLM,
    "seq2seq": AutoModelForSeq2SeqLM,
    "encoder": AutoModelForSequenceClassification,
}
_COMPLETE_MARKER = ".complete"
BF16_HEAD_FILE = "output_head.bf16.safetensors"
DEFAULT_LABELS = ("negative", "positive")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _fingerprint(path: Path) -> str:
    """Cheap identity of a weights file: size plus a hash of its first MiB (full hashing costs seconds)."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def dequantize_gguf(location: WeightsLocation, target: Path) -> None:
    """Load a GGUF with transformers (dequantizing to fp32) and save it as plain safetensors."""
    model = AutoModelForCausalLM.from_pretrained(location.folder, gguf_file=location.gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(location.folder, gguf_file=location.gguf_file)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def materialize(
    location: WeightsLocation, key: str, convert: Callable[[WeightsLocation, Path], None] = dequantize_gguf
) -> Path:
    """Return a folder of plain weights, converting (once) when the source is a GGUF file."""
    if location.gguf_file is None:
        return location.folder
    target = cache_dir() / "models" / f"{key}-{_fingerprint(location.folder / location.gguf_file)}"
    if (target / _COMPLETE_MARKER).exists():
        return target
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        convert(location, partial)
        (partial / _COMPLETE_MARKER).write_text(location.origin)
    except BaseException:  # a failed or interrupted conversion leaves nothing behind
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)  # an interrupted earlier conversion
    try:
        partial.rename(target)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(partial, ignore_errors=True)
    return target


def load_tokenizer(source: str | Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_pretrained(
    spec: BaseModelSpec, labels: list[str] | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A fresh copy of a base model and its tokenizer (training uses its own copy)."""
    location = resolve(spec)
    source: str | Path = location if isinstance(location, str) else materialize(location, spec.key)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": False, "use_safetensors": True}
    if spec.architecture == "encoder":
        labels = labels or list(DEFAULT_LABELS)
        kwargs.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    with torch.random.fork_rng():  # a new classification head is initialised identically every time
        torch.manual_seed(0)
        model = _MODEL_CLASSES[spec.architecture].from_pretrained(source, **kwargs)
    tokenizer = load_tokenizer(source)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


@dataclass
class LoadedBase:
    """One base model in memory, shared by all of its adapters; `lock` serialises use of it."""

    spec: BaseModelSpec
    model: Any
    tokenizer: PreTrainedTokenizerBase
    labels: tuple[str, ...] | None
    lock: threading.RLock = field(default_factory=threading.RLock)
    adapters: dict[str, Path] = field(default_factory=dict)
    batchers: dict[str, Any] = field(default_factory=dict)  # task -> models.batching.MicroBatcher
    engine: Any = None  # models.engine.Engine: the continuous-batching loop of a causal base


_LOADED: dict[tuple[str, tuple[str, ...] | None], LoadedBase] = {}
_LOADING = threading.Lock()


def load_base(name: str, labels: list[str] | tuple[str, ...] | None = None) -> LoadedBase:
    """The process-wide copy of a base model (encoders are keyed by their label set too)."""
    spec = get_spec(name)
    label_set = tuple(labels or DEFAULT_LABELS) if spec.architecture == "encoder" else None
    with _LOADING:
        if (spec.key, label_set) not in _LOADED:
            model, tokenizer = load_pretrained(spec, list(label_set) if label_set else None)
            model.to(default_device()).eval()
            bf16_cpu = model.device.type == "cpu" and cpu_has_fast_bf16()
            if bf16_cpu and spec.architecture == "causal" and head_outweighs_layers(model):
                folder = Path(model.name_or_path)  # a dequantized copy of ours keeps the bf16 head beside it
                use_bf16_output_head(model, folder / BF16_HEAD_FILE if folder.is_relative_to(cache_dir()) else None)
            if bf16_cpu and spec.bf16_body:
                use_bf16_body_matmuls(model)
            if spec.architecture == "causal":
                use_ragged_attention(model)  # served by models.engine; sdpa as before for everything else
                if model.device.type == "cpu":
                    use_small_batch_matmuls(model)
            _LOADED[spec.key, label_set] = LoadedBase(spec, model, tokenizer, label_set)
            release_openmp_threads()  # requests run on the batcher's thread: keep this one's pool from slowing it
        return _LOADED[spec.key, label_set]


def loaded_bases() -> list[LoadedBase]:
    return list(_LOADED.values())


def forget(loaded: LoadedBase) -> None:
    """Drop one base (e.g. one a failed adapter load may have altered); requests already holding it finish on it."""
    with _LOADING:
        for key, value in list(_LOADED.items()):
            if value is loaded:
                del _LOADED[key]


def forget_loaded() -> None:
    """Drop every loaded base (tests, and freeing memory)."""
    with _LOADING:
        _LOADED.clear()
