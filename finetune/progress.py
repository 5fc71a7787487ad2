"""A training job's progress: what the app polls, apart from the recipe so that the app can read it
without importing the Trainer (and what transformers' Trainer imports with it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Progress:
    """One snapshot of a job, cheap to copy and JSON-safe (the app polls these)."""

    status: str = "queued"  # queued, loading, evaluating, training, saving, done, cancelled, failed
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    learning_rate: float | None = None
    examples_per_s: float = 0.0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    message: str = ""
    losses: list[tuple[int, float]] = field(default_factory=list)
