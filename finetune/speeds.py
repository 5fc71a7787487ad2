"""How long a training job will take, said before it starts, and learnt from the jobs that ran here.

A job is three parts that grow with different things: a fixed part (starting the worker, importing
torch, loading the base, encoding the data, saving), training (examples trained), and measuring the
held-out rows twice (before and after). Each part has a speed. Until a job of a task on a base has run
on this machine the estimate uses the base's built-in figures (`BaseModelSpec.load_seconds`,
`examples_per_second`, `eval_examples_per_second`, measured once on a 2-core CPU); after it, the
figures that job measured, kept per base and task in the cache folder so that they survive a restart
(a machine twice as fast, or busy with other work, then says so in the next estimate).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finetune.config import TrainConfig
from finetune.data.contract import validation_size
from models.registry import DEFAULT_BASE, cache_dir, get_spec

SPEEDS_FILE = "speeds.json"


@dataclass(frozen=True)
class Speeds:
    """One base's figures for one task."""

    load_s: float = field(metadata={"help": "Everything but training and measuring: worker start, loading, saving."})
    train_examples_per_s: float = field(metadata={"help": "Examples trained per second (epochs count each time)."})
    eval_examples_per_s: float = field(metadata={"help": "Held-out rows measured per second, before and after alike."})
    measured: bool = field(default=False, metadata={"help": "True: a job on this machine measured them."})


@dataclass(frozen=True)
class Estimate:
    """A job's expected duration, part by part, and the figures it rests on."""

    speeds: Speeds
    train_rows: int
    validation_rows: int  # held out, all measured up to `eval_limit`
    train_examples: float  # rows x epochs, or the steps' worth when max_steps stops sooner
    eval_examples: int  # rows measured each time (before, then after)

    @property
    def load_s(self) -> float:
        return self.speeds.load_s

    @property
    def train_s(self) -> float:
        return self.train_examples / self.speeds.train_examples_per_s

    @property
    def eval_s(self) -> float:
        """Both measurements, before and after training."""
        return 2 * self.eval_examples / self.speeds.eval_examples_per_s

    @property
    def total_s(self) -> float:
        return self.load_s + self.train_s + self.eval_s


def training_examples(config: TrainConfig, train_rows: int) -> float:
    """Examples the Trainer goes through: every row once per epoch, unless max_steps stops it sooner."""
    examples = train_rows * config.epochs
    if config.max_steps > 0:
        examples = min(examples, config.max_steps * config.batch_size)
    return examples


def built_in_speeds(config: TrainConfig) -> Speeds:
    spec = get_spec(config.base or DEFAULT_BASE[config.task])
    return Speeds(spec.load_seconds, spec.examples_per_second, spec.eval_examples_per_second)


class SpeedBook:
    """The figures each base has shown on this machine, in a JSON file: {base: {task: Speeds}}.
    Read at every estimate (small, and another process of the app may have written it)."""

    def __init__(self, path: Path | None = None):
        self._path = path  # None: the cache folder's, looked up when used (tests move the cache)
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path or cache_dir() / SPEEDS_FILE

    def _read(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or a damaged file: the built-in figures serve
            return {}

    def speeds(self, config: TrainConfig) -> Speeds:
        """This machine's figures for the job's base and task, else the base's built-in ones."""
        base = config.base or DEFAULT_BASE[config.task]
        saved = self._read().get(base, {}).get(config.task)
        try:
            return Speeds(**{**saved, "measured": True}) if saved else built_in_speeds(config)
        except TypeError:  # written by another version
            return built_in_speeds(config)

    def estimate(self, config: TrainConfig, rows: int, validation_rows: int | None = None) -> Estimate:
        """The job on `rows` uploaded rows (and a validation file of `validation_rows`, if any): the split
        and the measuring follow the recipe's own rules (`validation_size`, `eval_limit`)."""
        if validation_rows is None:
            validation_rows = min(validation_size(rows, config.validation_fraction), max(rows - 1, 0))
            rows -= validation_rows
        return Estimate(self.speeds(config), rows, validation_rows, training_examples(config, rows),
                        min(validation_rows, config.eval_limit))

    def record(self, config: TrainConfig, timings: dict[str, float], total_s: float) -> Speeds:
        """Keep what a finished job measured (`LoRARecipe.timings`, and its whole duration): the next
        estimates for its base and task use it. A part the job did not measure keeps its old figure."""
        old = self.speeds(config)
        train_examples = training_examples(config, int(timings["train_rows"]))
        measured_s = timings["train_s"] + timings["eval_s"]
        new = Speeds(
            load_s=max(total_s - measured_s, 0.0),
            train_examples_per_s=train_examples / timings["train_s"] if timings["train_s"] > 0 else
            old.train_examples_per_s,
            eval_examples_per_s=timings["eval_examples"] / timings["eval_s"] if timings["eval_examples"] and
            timings["eval_s"] > 0 else old.eval_examples_per_s,
            measured=True)
        base = config.base or DEFAULT_BASE[config.task]
        with self._lock:
            book = self._read()
            book.setdefault(base, {})[config.task] = {k: round(v, 3) for k, v in asdict(new).items()
                                                      if k != "measured"}
            temporary = self.path.with_suffix(".tmp")
            try:
                temporary.write_text(json.dumps(book, indent=1), encoding="utf-8")
                os.replace(temporary, self.path)  # a reader never sees half a file
            except OSError:  # a read-only cache: estimates keep the older figures, the job is not harmed
                pass
        return new
