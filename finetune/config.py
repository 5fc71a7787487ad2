"""Training settings as one dataclass, with presets per task; every field says what it does."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

METHODS = ("lora", "head", "freeze", "full")
PRECISIONS = ("auto", "fp32", "bf16")
PRESETS = ("quick", "balanced", "thorough")


class ConfigError(ValueError):
    """A setting out of its sensible range; the message names the setting and the range."""


@dataclass(frozen=True)
class TrainConfig:
    task: str = field(metadata={"help": "sentiment, translation, summarization or chat."})
    base: str | None = field(default=None, metadata={"help": "Base model key or hub id (default: the task's)."})
    method: str = field(default="lora", metadata={
        "help": "lora; head = train only a new head (frozen encoder); freeze = freeze the lower layers; full."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training data."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (linear decay, short warm-up)."})
    batch_size: int = field(default=8, metadata={"help": "Examples per optimizer step."})
    rank: int = field(default=8, metadata={"help": "LoRA rank r: size of the low-rank update."})
    alpha: int = field(default=16, metadata={"help": "LoRA alpha: the update is scaled by alpha / r."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input. Off by default: on a CPU it "
                                                  "costs a quarter of each step (BENCHMARKS.md, efficiency)."})
    target_modules: tuple[str, ...] | None = field(default=None, metadata={
        "help": "Layers that get LoRA (default: attention and MLP projections of the architecture)."})
    init_adapter: str | None = field(default=None, metadata={
        "help": "method=lora: continue from this adapter (library name or folder) instead of a fresh LoRA; "
                "its rank and target layers are kept."})
    freeze_layers: int = field(default=4, metadata={"help": "method=freeze: how many lower layers stay frozen."})
    max_length: int = field(default=256, metadata={"help": "Longer examples are truncated to this many tokens."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share held out when no validation file."})
    eval_limit: int = field(default=200, metadata={"help": "At most this many validation examples for before/after."})
    precision: str = field(default="auto", metadata={
        "help": "fp32, or bf16: the frozen base weights and their matmuls in bfloat16 (trained weights, gradients "
                "and optimizer stay fp32); auto: bf16 where the hardware multiplies bf16 natively (a GPU with "
                "bf16, a CPU with AMX or AVX-512 BF16), else fp32."})
    seed: int = field(default=0, metadata={"help": "Same seed, same data, same precision, same result (on CPU)."})
    preset: str = field(default="balanced", metadata={"help": "quick, balanced or thorough (defaults per task)."})

    def validate(self) -> "TrainConfig":
        """Every setting in its range, with one message naming each that is not. Types are checked
        too (a rank of 2.5, a rate of NaN or "abc" would otherwise fail deep inside training)."""
        checks = [
            ("epochs", float, lambda v: 0 < v <= 100, "between 0 and 100"),
            ("max_steps", int, lambda v: v == -1 or 1 <= v <= 100_000, "-1 or 1..100000"),
            ("learning_rate", float, lambda v: 0 < v <= 1, "in (0, 1]"),
            ("batch_size", int, lambda v: 1 <= v <= 512, "1..512"),
            ("rank", int, lambda v: 1 <= v <= 256, "1..256"),
            ("alpha", int, lambda v: 1 <= v <= 4096, "1..4096"),
            ("dropout", float, lambda v: 0 <= v < 1, "in [0, 1)"),
            ("max_length", int, lambda v: 8 <= v <= 4096, "8..4096"),
            ("validation_fraction", float, lambda v: 0 < v < 0.5, "in (0, 0.5)"),
            ("freeze_layers", int, lambda v: 0 <= v <= 100, "0..100"),
            ("eval_limit", int, lambda v: 0 <= v <= 100_000, "0..100000"),
            ("seed", int, lambda v: 0 <= v < 2**32, "0..2**32-1"),
        ]
        problems = [] if self.method in METHODS else [
            f"method must be one of {', '.join(METHODS)} (got {self.method!r})"]
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")
        if self.init_adapter and self.method != "lora":
            problems.append(f"init_adapter continues a LoRA adapter, so method must be lora (got {self.method!r})")
        for name, kind, in_range, allowed in checks:
            value = getattr(self, name)
            if not _is_number(value, kind):
                problems.append(f"{name} must be {'a whole number' if kind is int else 'a number'}, {allowed} "
                                f"(got {value!r})")
            elif not in_range(value):
                problems.append(f"{name} must be {allowed} (got {value!r})")
        if problems:
            raise ConfigError("; ".join(problems) + ".")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Per task: preset -> settings. Chosen so that "quick" trains a 50-example upload in about a minute.
_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "sentiment": {
        "quick": dict(epochs=4, learning_rate=2e-3, batch_size=16, rank=8, max_length=128),
        "balanced": dict(epochs=6, learning_rate=1e-3, batch_size=16, rank=8, max_length=128),
        "thorough": dict(epochs=10, learning_rate=5e-4, batch_size=16, rank=16, max_length=128),
    },
    "translation": {
        "quick": dict(epochs=1, learning_rate=5e-4, batch_size=8, rank=8, max_length=128),
        "balanced": dict(epochs=2, learning_rate=3e-4, batch_size=8, rank=16, max_length=128),
        "thorough": dict(epochs=3, learning_rate=2e-4, batch_size=8, rank=32, max_length=160),
    },
    "summarization": {
        "quick": dict(epochs=1, learning_rate=5e-4, batch_size=8, rank=8, max_length=256),
        "balanced": dict(epochs=2, learning_rate=3e-4, batch_size=8, rank=16, max_length=320),
        "thorough": dict(epochs=3, learning_rate=2e-4, batch_size=8, rank=32, max_length=384),
    },
    "chat": {
        "quick": dict(epochs=2, learning_rate=5e-4, batch_size=8, rank=8, max_length=256),
        "balanced": dict(epochs=3, learning_rate=3e-4, batch_size=8, rank=16, max_length=256),
        "thorough": dict(epochs=5, learning_rate=2e-4, batch_size=8, rank=32, max_length=320),
    },
}


def _is_number(value: Any, kind: type) -> bool:
    """A finite int (kind int) or a finite int/float (kind float); never a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        return False
    return math.isfinite(value)


def make_config(task: str, preset: str = "balanced", **overrides: Any) -> TrainConfig:
    """Preset values for the task, then the caller's overrides (None means 'keep the preset')."""
    if task not in _PRESETS:
        raise ConfigError(f"task must be one of {', '.join(_PRESETS)} (got {task!r}).")
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)} (got {preset!r}).")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}.")
    values = {**_PRESETS[task][preset], **{k: v for k, v in overrides.items() if v is not None}}
    return replace(TrainConfig(task=task, preset=preset), **values).validate()


def help_texts() -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in fields(TrainConfig)}
