"""An adapter's stored measurements, read one way for every place that shows them.

`reproduce` stores each test set's scores in the adapter's playground.json ("test"), training stores
the validation scores ("metrics"), and `persona_eval` stores the personas' style and facts in
assets/adapters/persona_eval.json. The README's results table (`finetune.results`), the Adapters
tab's cards and each adapter's README.md (`finetune.card`) all read them through `measurements()`
and write the numbers with `significant()`, so the same set shows the same number everywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.methods import wilson_interval
from models.adapters import SHIPPED_DIR

PERSONA_RESULTS = "persona_eval.json"
PERSONA_PREFIX = "chat-"  # persona_eval names each persona's adapter chat-<persona>
_COUNTS = ("examples", "examples_per_s")  # stored next to the scores, but not scores


def significant(value: float, digits: int = 3) -> str:
    """A score for people: `digits` significant digits (0.873, 64.6, 7.37, 0.680), whole numbers
    (with thousands separators) from 10**digits up."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{places}f}"


@dataclass(frozen=True)
class Measurement:
    """One set an adapter was measured on, and what each side (base, adapter, peer) scored there."""

    split: str = field(metadata={"help": "test (held out, reported) or validation (seen while choosing settings)."})
    rows: int | None = field(metadata={"help": "How many examples were measured."})
    scores: dict[str, dict[str, float]] = field(metadata={"help": "side -> metric -> value (numbers only)."})
    headline: tuple[str, ...] = field(metadata={"help": "The metrics that say whether the adapter helps."})
    name: str = field(default="", metadata={"help": "A test set's name (movies, amazon, debian)."})
    file: str = field(default="", metadata={"help": "The file the examples came from."})
    peer: str = field(default="", metadata={"help": "The name of the peer that needs no training (VADER)."})
    of_rows: int | None = field(default=None, metadata={
        "help": "validation: the rows the set had, when only the first `rows` were measured (eval_limit)."})
    unit: str = field(default="rows", metadata={"help": "What one example is: rows, or prompts (questions and requests) for personas."})
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict, metadata={
        "help": "side -> metric -> 95% Wilson interval, for the scores that are a share (accuracy; a persona's "
                "style, facts kept and refusals)."})

    @property
    def metrics(self) -> list[str]:
        """The adapter's metrics, the headline ones first."""
        rest = [name for name in self.scores.get("adapter", {}) if name not in self.headline]
        return [name for name in self.headline if name in self.scores.get("adapter", {})] + rest


def share_intervals(shares: dict[str, dict[str, tuple[float, int]]]) -> dict[str, dict[str, tuple[float, float]]]:
    """side -> metric -> the 95% Wilson interval of a share (value, out of how many)."""
    return {side: {metric: wilson_interval(round(value * total), total) for metric, (value, total) in metrics.items()
                   if total} for side, metrics in shares.items()}


def with_interval(measurement: Measurement, side: str, metric: str) -> str:
    """A score as every place writes it: "0.865 (0.842–0.885)" where it has an interval."""
    value = significant(measurement.scores[side][metric])
    interval = measurement.intervals.get(side, {}).get(metric)
    return f"{value} ({significant(interval[0])}–{significant(interval[1])})" if interval else value


def _scores(values: Any) -> dict[str, float]:
    """A side's numeric scores (an uploaded adapter's metadata may hold anything)."""
    if not isinstance(values, dict):
        return {}
    return {name: float(value) for name, value in values.items() if name not in _COUNTS
            and isinstance(value, (int, float)) and not isinstance(value, bool)}


def _count(values: Any) -> int | None:
    count = values.get("examples") if isinstance(values, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _sides(measured: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {side: scores for side in ("base", "adapter", "peer") if (scores := _scores(measured.get(side)))}


def _tests(metadata: dict[str, Any], headline: tuple[str, ...]) -> list[Measurement]:
    tests = metadata.get("test")
    found = []
    for name, test in tests.items() if isinstance(tests, dict) else ():
        if isinstance(test, dict) and _scores(test.get("adapter")):
            peer, rows, sides = test.get("peer"), _count(test["adapter"]), _sides(test)
            intervals = share_intervals({side: {"accuracy": (scores["accuracy"], rows or 0)}
                                         for side, scores in sides.items() if "accuracy" in scores})
            found.append(Measurement("test", rows, sides, headline, name=str(name), file=str(test.get("file", "")),
                                     peer=str(peer.get("name", "")) if isinstance(peer, dict) else "",
                                     intervals=intervals))
    return found


def _persona(name: str, evaluation: dict[str, Any] | None) -> list[Measurement]:
    """The persona evaluation of a persona adapter: the share of replies in the persona's style (the
    base's share is of its own replies put in this persona's style), facts kept, refusals, clean stops;
    each share with its 95% interval over the replies (facts kept: over the questions the base got right)."""
    persona = name.removeprefix(PERSONA_PREFIX)
    figures = (evaluation or {}).get(persona) if name.startswith(PERSONA_PREFIX) and persona != "base" else None
    if not isinstance(figures, dict):
        return []
    base, base_correct = evaluation["base"], evaluation["base_correct"]
    replies = evaluation["questions"] + evaluation["requests"]
    shares = {"base": {"style": (base["style_counts"][persona] / replies, replies),
                       "refusals": (base["refusals"], replies)},
              "adapter": {"style": (figures["style_accuracy"], replies),
                          "facts_kept": (figures["facts_retained"], base_correct),
                          "refusals": (figures["refusals"], replies)}}
    scores = {side: {metric: value for metric, (value, _) in metrics.items()} for side, metrics in shares.items()}
    scores["base"]["facts_kept"] = 1.0  # by definition: facts kept counts the questions the base got right
    for side, figured in (("base", base), ("adapter", figures)):
        scores[side]["clean_stops"] = figured["clean_stops"]
    files = " + ".join(evaluation[key] for key in ("question_file", "request_file") if key in evaluation)
    return [Measurement("test", replies, scores, ("style", "facts_kept"), file=files, unit="prompts",
                        intervals=share_intervals(shares))]


def _validation(metadata: dict[str, Any], headline: tuple[str, ...]) -> list[Measurement]:
    metrics = metadata.get("metrics")
    if not isinstance(metrics, dict) or not _scores(metrics.get("adapter")):
        return []
    rows = _count(metrics["adapter"])
    data = metadata.get("data") if isinstance(metadata.get("data"), dict) else {}
    total = data.get("validation_rows")
    of_rows = total if isinstance(total, int) and rows is not None and total > rows else None
    return [Measurement("validation", rows, _sides(metrics), headline, of_rows=of_rows)]


def measurements(name: str, metadata: dict[str, Any], evaluation: dict[str, Any] | None = None) -> list[Measurement]:
    """Every set the adapter `name` was measured on: its test sets, its persona evaluation (from
    `evaluation`, the stored persona_eval.json), then validation. The first is the one to quote."""
    primary = metadata.get("primary_metric")
    headline = (primary,) if isinstance(primary, str) else ()
    return _tests(metadata, headline) + _persona(name, evaluation) + _validation(metadata, headline)


def persona_results(adapters: Path = SHIPPED_DIR) -> dict[str, Any] | None:
    """The stored persona evaluation of the shipped personas (None before `persona_eval` has run)."""
    path = adapters / PERSONA_RESULTS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
