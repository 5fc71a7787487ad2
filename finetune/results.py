"""`python -m finetune results`: the table of every shipped adapter's test results against its goal.

It reads what `reproduce` and `persona_eval` stored next to the adapters, so the README's table
is regenerated from the measurements, never typed in by hand; and it reads them, labels the sets and
writes the numbers as the Adapters tab's cards do (`finetune.measurements`, `finetune.card`). A
share (an accuracy, a persona's style) also gets its 95% Wilson interval there, so that a close call
(0.72 against 0.73 on 1,000 rows) reads as one; a set measured without a goal (the 40 everyday
sentences) is shown as "reported". A goal over the peer on a metric that is a mean over rows (ROUGE,
accuracy) also gets the 95% paired bootstrap interval of the difference, from the answers stored with
the scores, so a margin of +10.2 on 300 rows says how firm it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.card import metric_label, set_label
from finetune.data import read_jsonl
from finetune.measurements import Measurement, measurements, persona_results, significant, with_interval
from finetune.methods import ROOT, bootstrap_difference
from models.adapters import METADATA_FILE, SHIPPED_DIR
from models.tasks import get_task


@dataclass(frozen=True)
class QualityGoal:
    """One goal of issue 4: the adapter's metric on a test set, against a number, the peer or the base."""

    adapter: str
    test: str
    metric: str
    minimum: float | None = None  # an absolute floor
    over_peer: float | None = None  # this many points above the peer
    over_base: bool = True  # and above the bare base (a goal with none of the three is only reported)

    @property
    def judged(self) -> bool:
        return self.minimum is not None or self.over_peer is not None or self.over_base

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
        return ", ".join(parts) or "–"


GOALS = [
    QualityGoal("sentiment-movies", "movies", "accuracy", minimum=0.87, over_base=False),
    QualityGoal("sentiment-movies", "amazon", "accuracy", over_peer=0.0, over_base=False),
    QualityGoal("sentiment-movies", "news", "accuracy", over_peer=0.0, over_base=False),
    QualityGoal("sentiment-movies", "everyday", "accuracy", over_base=False),  # issue 26: reported, 40 rows
    QualityGoal("translation-en-es", "debian", "chrf", over_peer=5.0),
    QualityGoal("translation-en-es", "gettext", "chrf", over_peer=5.0),  # issue 26: software messages
    QualityGoal("summarization-debian", "debian", "rougeL", over_peer=10.0),
    QualityGoal("summarization-debian", "pypi", "rougeL", over_peer=10.0),  # issue 26: PyPI READMEs
]
PERSONA_STYLE = 0.5  # issue 26: each goal holds at the pessimistic end of its 95% interval
PERSONA_FACTS_KEPT = 0.8
PERSONA_REFUSALS = 0.05
PERSONAS = ("sarcastic", "cheerful", "professional")


def _row(adapter: str, measurement: Measurement, metrics: list[str], goal: str, result: str) -> str:
    """One line of the table: the set as the cards label it, and each side's scores as they write them."""
    def side(name: str) -> str:
        values = measurement.scores.get(name, {})
        return " / ".join(with_interval(measurement, name, metric) for metric in metrics if metric in values)

    peer = f"{side('peer')} {measurement.peer}".strip()
    return (f"| {adapter} | {set_label(measurement, 'en')} | {' / '.join(metric_label(m, 'en') for m in metrics)} | "
            f"{side('base')} | **{side('adapter')}** | {peer} | {goal} | {result} |")


ROW_MEAN_METRICS = ("accuracy", "rouge1", "rouge2", "rougeL")  # a corpus score that is the mean of row scores


def difference_words(goal: QualityGoal, metadata: dict[str, Any]) -> str:
    """"; adapter − peer +10.2 (95% CI +8.0 to +12.4)" from the answers stored beside the scores, or ""
    where they are not stored (an adapter measured before they were) or the metric is not a row mean."""
    test = metadata["test"][goal.test]
    answers = [test.get(side, {}).get("predictions") for side in ("adapter", "peer")]
    if goal.over_peer is None or goal.metric not in ROW_MEAN_METRICS or not all(answers):
        return ""
    spec = get_task(metadata["task"])
    rows = read_jsonl(ROOT / test["file"])
    references = [row[spec.output_column] for row in rows[:len(answers[0])]]
    ours, theirs = ([spec.score_one(ref, answer)[goal.metric] for ref, answer in zip(references, side, strict=True)]
                    for side in answers)
    digits = 3 if goal.metric == "accuracy" else 1  # as the scores are written: 0.893, 39.3
    mean, low, high = bootstrap_difference(ours, theirs)
    return f"; adapter − peer {mean:+.{digits}f} (95% CI {low:+.{digits}f} to {high:+.{digits}f})"


def _unmeasured(goal: QualityGoal, why: str) -> str:
    return f"| {goal.adapter} | test · {goal.test} | {goal.metric} | | | | {goal.wording()} | {why} |"


def task_rows(adapters: Path) -> list[str]:
    rows = []
    for goal in GOALS:
        metadata_file = adapters / goal.adapter / METADATA_FILE
        if not metadata_file.exists():
            rows.append(_unmeasured(goal, "not trained"))
            continue
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        test = next((m for m in measurements(goal.adapter, metadata) if m.split == "test" and m.name == goal.test),
                    None)
        if test is None:  # the adapter was trained before the set was added
            rows.append(_unmeasured(goal, "not measured"))
            continue
        met, margin = goal.check(test.scores)
        result = ("met" if met else f"MISSED: {margin}") + difference_words(goal, metadata)
        rows.append(_row(goal.adapter, test, [goal.metric], goal.wording(), result if goal.judged else "reported"))
    return rows


def persona_misses(measurement: Measurement) -> list[str]:
    """The persona goals a measurement misses, each judged at the pessimistic end of its 95% interval:
    style above 0.5 and facts kept at least 0.8 at their lower ends, refusals at most 5% at the upper end,
    and every factual answer stopping by itself."""
    scores, intervals = measurement.scores["adapter"], measurement.intervals.get("adapter", {})

    def low(metric: str) -> float:
        return intervals[metric][0]

    checks = [(f"style {significant(low('style'))} ≤ {PERSONA_STYLE} at the low end", low("style") <= PERSONA_STYLE),
              (f"facts kept {significant(low('facts_kept'))} < {PERSONA_FACTS_KEPT} at the low end",
               low("facts_kept") < PERSONA_FACTS_KEPT),
              (f"refusals {significant(intervals['refusals'][1])} > {PERSONA_REFUSALS} at the high end",
               intervals["refusals"][1] > PERSONA_REFUSALS),
              (f"clean stops {significant(scores['clean_stops'])} < 1", scores["clean_stops"] < 1)]
    return [miss for miss, missed in checks if missed]


def persona_rows(adapters: Path) -> list[str]:
    """Style, facts kept, refusals and clean stops per persona, with their intervals and goals."""
    results = persona_results(adapters)
    if results is None:
        return ["| chat personas | | | | | | | not evaluated (`python -m finetune.persona_eval`) |"]
    rows = []
    for persona in PERSONAS:
        name = f"chat-{persona}"
        found = [m for m in measurements(name, {}, results) if m.unit == "prompts"]
        if not found:
            continue
        misses = persona_misses(found[0])
        rows.append(_row(name, found[0], ["style", "facts_kept", "refusals", "clean_stops"],
                         f"at 95%: style > {PERSONA_STYLE}, facts ≥ {PERSONA_FACTS_KEPT}, refusals ≤ "
                         f"{PERSONA_REFUSALS:.0%}; stops = 1", "met" if not misses else "MISSED: " + "; ".join(misses)))
    return rows


def results_table(adapters: Path = SHIPPED_DIR) -> str:
    header = ["| adapter | set | metric | base | adapter | peer | goal | result |",
              "|---|---|---|---|---|---|---|---|"]
    return "\n".join(header + task_rows(adapters) + persona_rows(adapters))


def write_into_readme(readme: Path, adapters: Path = SHIPPED_DIR) -> None:
    """Put the current table in place of the README's old one (its lines from the header row to the
    first line that is not a table row), so that a retrained adapter's numbers reach the README."""
    lines, table = readme.read_text(encoding="utf-8").split("\n"), results_table(adapters).split("\n")
    start = lines.index(table[0])
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    readme.write_text("\n".join(lines[:start] + table + lines[end:]), encoding="utf-8")
