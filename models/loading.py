"""Load each base model once per process, from a folder, a dequantized-GGUF cache or the hub.

Dequantizing a GGUF takes 20-60 s, so the first load writes a safetensors copy under the cache
folder (to a temporary folder, renamed when complete); every later start reads that copy.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from models.batching import release_openmp_threads
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


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX-512 BF16: bf16 matmuls run in hardware (several times the fp32 rate), not emulated."""
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def _float32_output(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def _bf16_linear(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """fp32 in, fp32 out, the product in bf16 (`weight`, `bias`: bf16). It runs on a 2-D bf16 copy of the
    input: on a 3-D input (generation's last position) torch's bf16 matmul turns into a batched product
    that first copies the whole weight (0.8 s for gemma's head, every prompt)."""
    flat = torch.nn.functional.linear(hidden.reshape(-1, hidden.shape[-1]).to(torch.bfloat16), weight, bias)
    return flat.float().view(*hidden.shape[:-1], flat.shape[-1])


def _bf16_head_forward(head: torch.nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    return _bf16_linear(hidden, head.weight, head.bias)


def _bf16_copy(weight: torch.Tensor, cached: Path | None) -> torch.Tensor:
    """`weight` in bf16, kept in `cached` after the first conversion. Converting reads the whole fp32
    weight, and pages read from memory-mapped weights stay resident: gemma's head would add 671 MB."""
    if cached is not None and cached.exists():
        return load_file(cached)["weight"]
    copy = weight.detach().to(torch.bfloat16)
    if cached is not None:
        partial = cached.with_name(f"{cached.name}.partial-{os.getpid()}-{threading.get_ident()}")
        save_file({"weight": copy}, partial)
        os.replace(partial, cached)
    return copy


def head_outweighs_layers(model: PreTrainedModel) -> bool:
    """Whether the LM head holds more weights than all the layers together (gemma-3-270m: 168M vs 100M;
    SmolLM2-135M: 28M vs 106M). Only then does a bf16 head pay: elsewhere it saves little time, and
    long chat replies drift from the fp32 ones the personas were measured with."""
    head = model.get_output_embeddings().weight
    layers = sum(p.numel() for p in model.parameters() if p is not head)
    return head.numel() > layers


def use_bf16_output_head(model: PreTrainedModel, cached: Path | None = None) -> None:
    """Store the LM head (and the input embedding it is tied to) in bf16, keeping every other layer in fp32.

    Each generated token multiplies the hidden states by the whole head (gemma-3: 262k x 640, most of
    a decoding step). In fp32 a batch of 8 rows costs 3x one row (the kernel repacks the weight on
    every call); in bf16 on AMX both take less than one fp32 row, and the weight takes half the memory.
    Logits and embeddings are handed on in fp32, so the rest of the model and its LoRA adapters are unchanged.
    `cached`: a file that keeps the bf16 weight between starts.
    """
    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    tied = embedding is not None and embedding.weight is head.weight
    head.weight = torch.nn.Parameter(_bf16_copy(head.weight, cached), requires_grad=False)
    if head.bias is not None:
        head.bias = torch.nn.Parameter(head.bias.detach().to(torch.bfloat16), requires_grad=False)
    head.forward = functools.partial(_bf16_head_forward, head)
    if tied:
        embedding.weight = head.weight
        embedding.register_forward_hook(_float32_output)


class Bf16MatmulLinear(torch.nn.Linear):
    """A frozen `nn.Linear` that multiplies in bf16, fp32 in and fp32 out, from bf16 copies of its weight
    and bias kept beside the fp32 ones (`use_bf16_body_matmuls`). The fp32 weight stays the parameter,
    so peft wraps this layer as any Linear and keeps the adapters it adds in fp32; copies older than the
    weight (an in-place update) are made anew."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bf16_version != self.weight._version:
            self.make_bf16_copies()
        return _bf16_linear(x, self.weight_bf16, self.bias_bf16)

    def make_bf16_copies(self) -> None:
        for name in ("weight", "bias"):
            tensor = getattr(self, name)
            self.register_buffer(f"{name}_bf16", None if tensor is None else tensor.detach().to(torch.bfloat16),
                                 persistent=False)
        self.bf16_version = self.weight._version


def use_bf16_body_matmuls(model: PreTrainedModel) -> None:
    """Run the body's linear layers (not the LM or classifier head) in bf16; the adapters stay fp32.

    Where rows come in batches the body is compute-bound, and bf16 units multiply several times faster.
    MiniLM: eight 40-token reviews are 8 GFLOP (BENCHMARKS.md, concurrency); through `finetune eval`
    the shipped adapter scores movies 0.880 (fp32: 0.879) and Amazon 0.793 (0.794), class probabilities
    move by at most 0.02. gemma-3-270m: on a 2-core AMD EPYC with AVX-512 BF16, 8 translations took
    2.1 s instead of 3.5-3.7 s and one at a time 1.0 s instead of 1.4; served this way the shipped
    adapters score chrF 66.1 and ROUGE-L 39.6 (66.1 and 39.5 with only the head in bf16). SmolLM2's
    chat (one row, decoded token by token) streamed 13 tokens/s instead of 17.6, so it stays fp32
    (`BaseModelSpec.bf16_body`)."""
    for module in model.base_model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = Bf16MatmulLinear
            module.make_bf16_copies()


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
