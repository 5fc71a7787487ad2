"""What can be wrong with an upload, said so that a person can fix it: limits, problems, the report
that collects them while a file is read, and the error the CLI raises."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import finetune.catalogue  # noqa: F401  (the words of the messages below)
from models.messages import DEFAULT_LANGUAGE, LocalizedError, Message, render, say

WARNING_CAP = 5  # per-row warnings of one kind shown before they are summarised


@dataclass(frozen=True)
class DataLimits:
    min_rows: int = field(default=10, metadata={"help": "fewest usable rows worth training on"})
    max_rows: int = field(default=50_000, metadata={"help": "most rows read; longer files are refused"})
    max_bytes: int = field(default=50 * 1024 * 1024, metadata={"help": "largest file accepted (checked before reading)"})
    max_cell_chars: int = field(default=20_000, metadata={"help": "longest cell accepted, in characters"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: what and what to do (`said`), and where."""

    said: Message
    row: int | None = None  # physical line number in the file (1-based; CSV header is line 1)
    column: str | None = None
    severity: str = "error"  # "error" or "warning"
    line_in_text: bool = True  # False where the message names its lines itself

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The message in `language`, starting with "Line N:" when it is about one row."""
        sentence = self.said.text(language)
        return (render("data.line", language, {"line": self.row, "message": sentence}) if self.row and self.line_in_text
                else sentence)

    @property
    def message(self) -> str:
        return self.text()


class DataValidationError(LocalizedError, ValueError):
    """Raised by `load_examples_or_raise`; str() lists the problems one per line."""

    MAX_LINES = 50

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("data.invalid_file", errors=sum(p.severity == "error" for p in self.problems))

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        lines = [super().text(language)]
        lines += [f"  {p.severity}: {p.text(language)}" for p in self.problems[: self.MAX_LINES]]
        if len(self.problems) > self.MAX_LINES:
            lines.append("  " + render("data.more_problems", language, {"count": len(self.problems) - self.MAX_LINES}))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.problems,)


class Report:
    """Collects problems; repeated per-row warnings of one kind are capped so the list stays readable."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.seen: Counter = Counter()
        self.caps: dict[str, int] = {}

    def error(self, key: str, line: int | None = None, column: str | None = None, **args: Any) -> None:
        self.problems.append(Problem(say(key, **args), line, column))

    def warn(self, key: str, line: int | None = None, column: str | None = None,
             kind: str | None = None, cap: int = WARNING_CAP, **args: Any) -> None:
        if kind:
            self.seen[kind] += 1
            self.caps[kind] = cap
            if self.seen[kind] > cap:
                return
        self.problems.append(Problem(say(key, **args), line, column, "warning"))

    def finish(self) -> None:
        for kind, n in self.seen.items():
            if n > self.caps[kind]:
                self.warn("data.same_warning", what=say(kind), count=n - self.caps[kind])
