"""`python -m finetune results`: the table of every shipped adapter's test results against its goal.

It reads what `reproduce` and `persona_eval` stored next to the adapters, so the README's table
is regenerated from the measurements, never typed in by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.adapters import SHIPPED_DIR


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


def _format(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) and value <= 1 else f"{value:.1f}" if isinstance(value, float) else ""


def task_rows(adapters: Path) -> list[str]:
    rows = []
    for goal in GOALS:
        metadata_file = adapters / goal.adapter / "playground.json"
        if not metadata_file.exists():
            rows.append(f"| {goal.adapter} | {goal.test} | {goal.metric} | | | | {goal.wording()} | not trained |")
            continue
        scores = json.loads(metadata_file.read_text(encoding="utf-8"))["test"][goal.test]
        met, margin = goal.check(scores)
        peer = scores.get("peer", {})
        rows.append(f"| {goal.adapter} | {goal.test} ({scores['adapter']['examples']}) | {goal.metric} | "
                    f"{_format(scores['base'][goal.metric])} | **{_format(scores['adapter'][goal.metric])}** | "
                    f"{_format(peer.get(goal.metric))} {peer.get('name', '')} | {goal.wording()} | "
                    f"{'met' if met else 'MISSED: ' + margin} |")
    return rows


def persona_rows(adapters: Path) -> list[str]:
    """Style accuracy, facts kept and clean stops per persona (goal: distinct style, ≥ 80% facts, all stop)."""
    results_file = adapters / "persona_eval.json"
    if not results_file.exists():
        return ["| chat personas | | | | | | | not evaluated (`python -m finetune.persona_eval`) |"]
    results = json.loads(results_file.read_text(encoding="utf-8"))
    rows = []
    for persona in ("sarcastic", "cheerful", "professional"):
        r = results.get(persona)
        if r is None:
            continue
        misses = [f"facts kept {r['facts_retained']:.2f} < {PERSONA_FACTS_KEPT}"] if r["facts_retained"] < PERSONA_FACTS_KEPT else []
        misses += [f"clean stops {r['clean_stops']:.2f} < 1"] if r["clean_stops"] < 1 else []
        misses += [f"style {r['style_accuracy']:.2f} ≤ 0.5"] if r["style_accuracy"] <= 0.5 else []
        rows.append(f"| chat-{persona} | {results['questions']} questions (base right on {results['base_correct']}) | "
                    f"style acc / facts kept / clean stops | {results['base']['style_accuracy']:.2f} / 1.00 / "
                    f"{results['base']['clean_stops']:.2f} | **{r['style_accuracy']:.2f} / {r['facts_retained']:.2f} / "
                    f"{r['clean_stops']:.2f}** | | style > 0.5, facts ≥ {PERSONA_FACTS_KEPT}, stops = 1 | "
                    f"{'met' if not misses else 'MISSED: ' + '; '.join(misses)} |")
    return rows


def results_table(adapters: Path = SHIPPED_DIR) -> str:
    header = ["| adapter | test (examples) | metric | base | adapter | peer | goal | result |",
              "|---|---|---|---|---|---|---|---|"]
    return "\n".join(header + task_rows(adapters) + persona_rows(adapters))
