"""The Learn tab's experiment: the course's ways to adapt a model (full fine-tuning, frozen lower layers, a new
head, LoRA at three ranks) trained on MiniLM for sentiment, on the same reviews, and scored on the same
held-out reviews, with how sure one can be of each difference.

Why these numbers: 20 held-out rows (a split of the 80 bundled ones) can only read 0.65, 0.70, 0.75...: one
review is five points, and every method looked alike. The held-out set is now the first `HELDOUT_ROWS`
reviews of the bundled sentiment test split (never trained on; any that also appear in the training file
are left out). Each accuracy gets a 95% Wilson score interval (it stays inside [0, 1] and is accurate at a
few hundred rows, where the textbook ±1.96·√(p(1−p)/n) is not). Whether the best method really beats another
is a paired question, since both were scored on the same reviews: McNemar's exact test on the reviews where
exactly one of the two is right. A p-value of 0.05 or more reads "within noise" (each of the five
comparisons on its own; with five, one false "better" in twenty runs is to be expected).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.stats import binomtest

from finetune.config import TrainConfig, make_config
from finetune.data import load_examples
from models.adapters import WEIGHTS_FILE

ROOT = Path(__file__).resolve().parent.parent
TRAIN_FILE = ROOT / "assets" / "examples" / "sentiment_reviews.csv"
HELDOUT_FILE = ROOT / "assets" / "data" / "sentiment" / "test.jsonl"
HELDOUT_ROWS = 200  # an interval of about ±6 points at 80% accuracy (20 rows: ±17)
STEPS = 30  # six passes over the 80 reviews at batch 16: a minute or two for all six methods on a laptop CPU
CONFIDENCE = 0.95
NOISE_P = 0.05  # a paired p-value at or above this: the two methods are within noise of each other
BYTES_PER_PARAMETER = 4  # float32


@dataclass(frozen=True)
class Method:
    label: str = field(metadata={"help": "Its name in the tables, e.g. lora-r8; the i18n key "
                                         "'learn.<first part>' explains it."})
    settings: dict[str, Any] = field(metadata={"help": "TrainConfig overrides (method, rank, learning rate)."})

    @property
    def method(self) -> str:
        return self.settings["method"]


# Learning rates suit each method: updating every weight needs small steps, a fresh head large ones.
METHODS = (
    Method("full", dict(method="full", learning_rate=5e-5)),
    Method("freeze", dict(method="freeze", freeze_layers=4, learning_rate=1e-4)),
    Method("head", dict(method="head", learning_rate=2e-3)),
    Method("lora-r2", dict(method="lora", rank=2, alpha=4, learning_rate=2e-3)),
    Method("lora-r8", dict(method="lora", rank=8, alpha=16, learning_rate=2e-3)),
    Method("lora-r32", dict(method="lora", rank=32, alpha=64, learning_rate=2e-3)),
)


def method_config(method: Method, base: str, heldout_rows: int = HELDOUT_ROWS, steps: int = STEPS) -> TrainConfig:
    """The quick sentiment preset with the method's settings; `eval_limit` lets every held-out row count."""
    return make_config("sentiment", "quick", base=base, max_steps=steps, eval_limit=heldout_rows,
                       **method.settings)


def label_of(config: TrainConfig) -> str:
    return f"lora-r{config.rank}" if config.method == "lora" else config.method


def shared_bytes(model: Any, method: str, trainable: int) -> int:
    """What you would store to share the result, the cost the course sets against accuracy: a LoRA adapter as
    saved (its safetensors measured on disk: the frozen base is not in it), otherwise the changed weights in
    float32 (the whole model, the top layers or the head)."""
    if method != "lora":
        return trainable * BYTES_PER_PARAMETER
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
        return (Path(folder) / WEIGHTS_FILE).stat().st_size


@lru_cache(maxsize=2)
def comparison_data(heldout_rows: int = HELDOUT_ROWS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training records, held-out records): the bundled 80 reviews, and the first `heldout_rows` test
    reviews whose text is not among them. Cached (the Learn tab scores every poll against them): read only."""
    train = load_examples(TRAIN_FILE, "sentiment").records
    seen = {record["text"] for record in train}
    test = load_examples(HELDOUT_FILE, "sentiment").records
    return train, [record for record in test if record["text"] not in seen][:heldout_rows]


def submit_comparison(jobs: Any, workspace: str, base: str) -> list[Any]:
    """One job per method on the job queue (`finetune.jobs.JobQueue`), nothing saved; returns the jobs."""
    train, heldout = comparison_data()
    summary = {"file": TRAIN_FILE.name, "validation_file": HELDOUT_FILE.name}
    return [jobs.submit(method_config(method, base, len(heldout)), train, workspace, kind="learn",
                        validation=heldout, data_summary=summary) for method in METHODS]


# ---------------------------------------------------------------------------------------------- statistics

def wilson_interval(correct: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of `correct` out of `total`."""
    interval = binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def paired_p_value(first: list[bool], second: list[bool]) -> float:
    """McNemar's exact test: were two models, right or wrong on the same rows, equally good? Only the rows
    where exactly one is right tell them apart; under 'equally good' each such row goes either way."""
    only_first = sum(a and not b for a, b in zip(first, second, strict=True))
    only_second = sum(b and not a for a, b in zip(first, second, strict=True))
    if only_first + only_second == 0:
        return 1.0
    return float(binomtest(only_first, only_first + only_second, 0.5).pvalue)


def bootstrap_difference(ours: list[float], theirs: list[float], resamples: int = 2000, seed: int = 0,
                         confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The mean of `ours` minus the mean of `theirs` (per-row scores on the same rows) and its paired
    bootstrap interval: the rows are drawn again with replacement, both sides together, so that how hard
    each row is cancels out and only the difference between the two models varies."""
    difference = np.asarray(ours, dtype=float) - np.asarray(theirs, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(difference), (resamples, len(difference)))
    means = difference[draws].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    return float(difference.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


@dataclass(frozen=True)
class Score:
    correct: int = field(metadata={"help": "Held-out rows labelled right."})
    total: int = field(metadata={"help": "Held-out rows scored."})

    @property
    def accuracy(self) -> float:
        return self.correct / self.total

    def row(self, prefix: str) -> dict[str, Any]:
        low, high = wilson_interval(self.correct, self.total)
        return {prefix: round(self.accuracy, 4), f"{prefix}_low": round(low, 4), f"{prefix}_high": round(high, 4)}


def outcomes(metrics: dict[str, Any], heldout: list[dict[str, Any]]) -> list[bool]:
    """Right or wrong, per held-out row, from a job's metrics (`finetune.evaluate` keeps each prediction)."""
    return [prediction == record["label"] for prediction, record in zip(metrics["predictions"], heldout, strict=True)]


def comparison_rows(results: dict[str, dict[str, Any]], heldout: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per finished method (label -> its job's metadata, with "size_bytes" added: `shared_bytes`):
    parameters, size, seconds, the loss at each logged step ([[step, loss], ...]), accuracy before and after
    with their intervals, and the paired p-value against the best method (None for the best itself)."""
    right = {label: outcomes(meta["metrics"]["adapter"], heldout) for label, meta in results.items()}
    best = max(right, key=lambda label: sum(right[label]), default=None)
    rows = []
    for label, meta in results.items():
        before = outcomes(meta["metrics"]["base"], heldout)
        rows.append({"method": label, "trainable_params": meta["trainable_params"],
                     "total_params": meta["total_params"], "size_bytes": meta["size_bytes"],
                     "train_seconds": meta["train_seconds"],
                     "losses": [[step, round(loss, 4)] for step, loss in meta["loss_history"]],
                     **Score(sum(before), len(before)).row("accuracy_before"),
                     **Score(sum(right[label]), len(heldout)).row("accuracy_after"),
                     "p_vs_best": None if label == best else round(paired_p_value(right[best], right[label]), 4)})
    return rows


def within_noise(row: dict[str, Any]) -> bool | None:
    """None for the best method; else whether the paired test cannot tell it from the best."""
    return None if row["p_vs_best"] is None else row["p_vs_best"] >= NOISE_P


# ---------------------------------------------------------------------------------------------- the stored run

def run_comparison(base: str, report: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and score every method in this process, one after another; returns what `assets/learn_results.json`
    holds: {"note": {...how, where, when...}, "rows": comparison_rows(...)}."""
    import os
    from datetime import date

    from benchmarks.common import machine
    from finetune.recipe import LoRARecipe

    train, heldout = comparison_data()
    load = os.getloadavg()[0]  # other work on the machine slows the training times down
    results = {}
    for method in METHODS:
        report(f"training {method.label}")
        recipe = LoRARecipe(method_config(method, base, len(heldout)), train, heldout)
        meta = recipe.run()
        results[method.label] = {**meta, "size_bytes": shared_bytes(recipe.model, method.method,
                                                                    meta["trainable_params"])}
        report(f"{method.label}: accuracy {results[method.label]['metrics']['adapter']['accuracy']:.3f} "
               f"in {results[method.label]['train_seconds']} s, {results[method.label]['size_bytes']:,} bytes to share")
    note = {"command": f"python -m finetune compare-methods --base {base}", "machine": machine()["CPU"],
            "cores": len(os.sched_getaffinity(0)), "load_before": round(load, 2), "date": date.today().isoformat(),
            "base": base,
            "train_file": TRAIN_FILE.relative_to(ROOT).as_posix(), "train_rows": len(train),
            "heldout_file": HELDOUT_FILE.relative_to(ROOT).as_posix(), "heldout_rows": len(heldout), "steps": STEPS}
    note["load_during"] = round(os.getloadavg()[1], 2)  # the last 5 minutes' average, at the end
    return {"note": note, "rows": comparison_rows(results, heldout)}
