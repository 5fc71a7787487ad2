"""Training settings as one dataclass, with presets per task; every field says what it does."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import finetune.catalogue  # noqa: F401  (the words of the messages below)
from models.messages import Listing, LocalizedError, say
from models.tasks import PRESETS, UnknownTaskError, get_task, task_names

METHODS = ("lora", "head", "freeze", "full")
PRECISIONS = ("auto", "fp32", "bf16")


class ConfigError(LocalizedError, ValueError):
    """A setting out of its sensible range; the message names the setting and the range."""


@dataclass(frozen=True)
class TrainConfig:
    task: str = field(metadata={"help": "The task (`models.tasks`): sentiment, translation, summarization, chat."})
    base: str | None = field(default=None, metadata={"help": "Base model key or hub id (default: the task's)."})
    method: str = field(default="lora", metadata={
        "choices": METHODS, "help": "lora; head = train only a new head (frozen encoder); freeze = freeze the lower layers; full."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training data."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    learning_rate: float = field(default=2e-4, metadata={"aliases": ["--lr"], "help": "Peak learning rate (linear decay, short warm-up)."})
    batch_size: int = field(default=8, metadata={"help": "Examples per optimizer step."})
    rank: int = field(default=8, metadata={"help": "LoRA rank r: size of the low-rank update."})
    alpha: int = field(default=16, metadata={"help": "LoRA alpha: the update is scaled by alpha / r."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input. Off by default: on a CPU it "
                                                  "costs a quarter of each step (BENCHMARKS.md, efficiency)."})
    target_modules: list[str] | None = field(default=None, metadata={
        "help": "Layers that get LoRA (default: attention and MLP projections of the architecture)."})
    init_adapter: str | None = field(default=None, metadata={
        "help": "method=lora: continue from this adapter (library name or folder) instead of a fresh LoRA; "
                "its rank and target layers are kept."})
    freeze_layers: int = field(default=4, metadata={"help": "method=freeze: how many lower layers stay frozen."})
    max_length: int = field(default=256, metadata={"help": "Longer examples are truncated to this many tokens."})
    validation_fraction: float = field(default=0.1, metadata={
        "help": "Share held out when no validation file, but at least min(30, a third of the rows): the before/after "
                "metrics need about 30 rows to be worth reading, and two thirds stay to train on."})
    eval_limit: int = field(default=200, metadata={
        "help": "At most this many validation examples for before/after (under 30 the Train tab warns)."})
    precision: str = field(default="auto", metadata={
        "choices": PRECISIONS, "help": "fp32, or bf16: the frozen base weights and their matmuls in bfloat16 (trained weights, gradients "
                "and optimizer stay fp32); auto: bf16 where the hardware multiplies bf16 natively (a GPU with "
                "bf16, a CPU with AMX or AVX-512 BF16), else fp32."})
    seed: int = field(default=0, metadata={"help": "Same seed, same data, same precision, same result (on CPU)."})
    preset: str = field(default="balanced", metadata={"choices": PRESETS, "help": "quick, balanced or thorough (defaults per task)."})

    def validate(self) -> "TrainConfig":
        """Every setting in its range, with one message naming each that is not. Types are checked
        too (a rank of 2.5, a rate of NaN or "abc" would otherwise fail deep inside training)."""
        checks = [
            ("epochs", float, lambda v: 0 < v <= 100, say("config.between", low=0, high=100)),
            ("max_steps", int, lambda v: v == -1 or 1 <= v <= 100_000, say("config.minus_one_or", low=1, high=100000)),
            ("learning_rate", float, lambda v: 0 < v <= 1, say("config.open_closed", low=0, high=1)),
            ("batch_size", int, lambda v: 1 <= v <= 512, say("config.range", low=1, high=512)),
            ("rank", int, lambda v: 1 <= v <= 256, say("config.range", low=1, high=256)),
            ("alpha", int, lambda v: 1 <= v <= 4096, say("config.range", low=1, high=4096)),
            ("dropout", float, lambda v: 0 <= v < 1, say("config.closed_open", low=0, high=1)),
            ("max_length", int, lambda v: 8 <= v <= 4096, say("config.range", low=8, high=4096)),
            ("validation_fraction", float, lambda v: 0 < v < 0.5, say("config.open", low=0, high=0.5)),
            ("freeze_layers", int, lambda v: 0 <= v <= 100, say("config.range", low=0, high=100)),
            ("eval_limit", int, lambda v: 0 <= v <= 100_000, say("config.range", low=0, high=100000)),
            ("seed", int, lambda v: 0 <= v < 2**32, say("config.range", low=0, high="2**32-1")),
        ]
        problems = [] if self.method in METHODS else [
            say("config.one_of", name="method", known=", ".join(METHODS), value=self.method)]
        if self.precision not in PRECISIONS:
            problems.append(say("config.one_of", name="precision", known=", ".join(PRECISIONS), value=self.precision))
        if self.init_adapter and self.method != "lora":
            problems.append(say("config.init_needs_lora", value=self.method))
        for name, kind, in_range, allowed in checks:
            value = getattr(self, name)
            if not _is_number(value, kind):
                problems.append(say("config.whole_number" if kind is int else "config.number", name=name,
                                    allowed=allowed, value=value))
            elif not in_range(value):
                problems.append(say("config.out_of_range", name=name, allowed=allowed, value=value))
        if problems:
            raise ConfigError("config.problems", problems=Listing(tuple(problems), "; "))
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_number(value: Any, kind: type) -> bool:
    """A finite int (kind int) or a finite int/float (kind float); never a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        return False
    return math.isfinite(value)


def make_config(task: str, preset: str = "balanced", **overrides: Any) -> TrainConfig:
    """The task's preset values (`models.tasks.TaskSpec.presets`), then the caller's overrides (None means
    'keep the preset')."""
    try:
        presets = get_task(task).presets
    except UnknownTaskError:
        raise ConfigError("config.unknown_task", task=task, known=", ".join(task_names())) from None
    if preset not in PRESETS:
        raise ConfigError("config.unknown_preset", known=", ".join(PRESETS), value=preset)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError("config.unknown_settings", names=", ".join(sorted(unknown)))
    values = {**presets[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return replace(TrainConfig(task=task, preset=preset), **values).validate()


def help_texts() -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in fields(TrainConfig)}
