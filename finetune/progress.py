"""A training job's progress: what the app polls, apart from the recipe so that the app can read it
without importing the Trainer (and what transformers' Trainer imports with it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.messages import DEFAULT_LANGUAGE, Message, render


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
    message: str = ""  # in English (the CLI, the API, logs); `message_key` says it in any language
    message_key: str = ""
    message_args: dict[str, Any] = field(default_factory=dict)
    losses: list[tuple[int, float]] = field(default_factory=list)

    def tell(self, status: str, message: Message | str = "") -> None:
        """Set the status and what to say about it (a Message is said in the page's language)."""
        self.status = status
        if isinstance(message, Message):
            self.message, self.message_key, self.message_args = message.text(), message.key, dict(message.args)
        else:
            self.message, self.message_key, self.message_args = message, "", {}

    def message_text(self, language: str = DEFAULT_LANGUAGE) -> str:
        return render(self.message_key, language, self.message_args) if self.message_key else self.message
