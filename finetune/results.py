"""`python -m finetune results`: the table of every shipped adapter's test results against its goal.

It reads what `reproduce` and `persona_eval` stored next to the adapters, so the README's table
is regenerated from the measurements, never typed in by hand; and it reads them, labels the sets and
writes the numbers as the Adapters tab's cards do (`finetune.measurements`, `finetune.card`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.card import metric_label, set_label
from finetune.measurements import Measurement, measurements, persona_results, significant
from models.adapters import METADATA_FILE, SHIPPED_DIR


@dataclass(frozen=True)
class QualityGoal:
    """One goal of issue 4: the adapter's metric on a test set, against a number, the peer or the base."""

    adapter: str
    test: str
    metric: str
    minimum: float | None = None  # an absolute floor
    over_peer: float | None = None  # this many points above the peer
    over_base: bool = True  # and above the bare base

    def check(self, scores: dict[str, dict[str, Any]]) -> tuple[bool, str]:
        """Whether the goal is met, and the margin in words."""
        value, misses = scores["adapter"][self.metric], []
        if self.minimum is not None and value < self.minimum:
            misses.append(f"{self.minimum - value:.3g} below {self.minimum:g}")
        if self.over_peer is not None and value < scores["peer"][self.metric] + self.over_peer:
            misses.append(f"{scores['peer'][self.metric] + self.over_peer - value:.3g} short of peer + {self.over_peer:g}")
        if self.over_base and value <= scores["base"][self.metric]:
            misses.append("not above the base")
        return not misses, "; ".join(misses)

    def wording(self) -> str:
        parts = [f"≥ {self.minimum:g}"] if self.minimum is not None else []
        if self.over_peer is not None:
            parts.append(f"peer + {self.over_peer:g}" if self.over_peer else "> peer")
        if self.over_base:
            parts.append("> base")
        return ", ".join(parts)


GOALS = [
    QualityGoal("sentiment-movies", "movies", "accuracy", minimum=0.87, over_base=False),
    QualityGoal("sentiment-movies", "amazon", "accuracy", over_peer=0.0, over_base=False),
    QualityGoal("translation-en-es", "debian", "chrf", over_peer=5.0),
    QualityGoal("summarization-debian", "debian", "rougeL", over_peer=10.0),
]
PERSONA_FACTS_KEPT = 0.8
PERSONAS = ("sarcastic", "cheerful", "professional")


def _row(adapter: str, measurement: Measurement, metrics: list[str], goal: str, result: str) -> str:
    """One line of the table: the set as the cards label it, and each side's scores as they write them."""
    def side(name: str) -> str:
        values = measurement.scores.get(name, {})
        return " / ".join(significant(values[metric]) for metric in metrics if metric in values)

    peer = f"{side('peer')} {measurement.peer}".strip()
    return (f"| {adapter} | {set_label(measurement, 'en')} | {' / '.join(metric_label(m, 'en') for m in metrics)} | "
            f"{side('base')} | **{side('adapter')}** | {peer} | {goal} | {result} |")


def task_rows(adapters: Path) -> list[str]:
    rows = []
    for goal in GOALS:
        metadata_file = adapters / goal.adapter / METADATA_FILE
        if not metadata_file.exists():
            rows.append(f"| {goal.adapter} | test · {goal.test} | {goal.metric} | | | | {goal.wording()} | not trained |")
            continue
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        test = next(m for m in measurements(goal.adapter, metadata) if m.split == "test" and m.name == goal.test)
        met, margin = goal.check(test.scores)
        rows.append(_row(goal.adapter, test, [goal.metric], goal.wording(), "met" if met else f"MISSED: {margin}"))
    return rows


def persona_rows(adapters: Path) -> list[str]:
    """Style, facts kept and clean stops per persona (goal: distinct style, ≥ 80% facts, all stop)."""
    results = persona_results(adapters)
    if results is None:
        return ["| chat personas | | | | | | | not evaluated (`python -m finetune.persona_eval`) |"]
    rows = []
    for persona in PERSONAS:
        name = f"chat-{persona}"
        found = [m for m in measurements(name, {}, results) if m.unit == "questions"]
        if not found:
            continue
        r = found[0].scores["adapter"]
        misses = [miss for miss, missed in (
            (f"facts kept {significant(r['facts_kept'])} < {PERSONA_FACTS_KEPT}", r["facts_kept"] < PERSONA_FACTS_KEPT),
            (f"clean stops {significant(r['clean_stops'])} < 1", r["clean_stops"] < 1),
            (f"style {significant(r['style'])} ≤ 0.5", r["style"] <= 0.5)) if missed]
        rows.append(_row(name, found[0], ["style", "facts_kept", "clean_stops"],
                         f"style > 0.5, facts ≥ {PERSONA_FACTS_KEPT}, stops = 1",
                         "met" if not misses else "MISSED: " + "; ".join(misses)))
    return rows


def results_table(adapters: Path = SHIPPED_DIR) -> str:
    header = ["| adapter | set | metric | base | adapter | peer | goal | result |",
              "|---|---|---|---|---|---|---|---|"]
    return "\n".join(header + task_rows(adapters) + persona_rows(adapters))
