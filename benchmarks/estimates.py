"""9. Time estimates: the Train tab's estimate against the job's actual duration, per task.

Each task's bundled example (assets/examples/) trains on its default base with the "quick" preset,
through the app's own job queue (a worker process: start, load, measure, train, measure; nothing
saved), twice: first estimated from the base's built-in figures, then from the figures the first job
measured on this machine (`finetune.speeds`, a fresh file for the run). "ours" is the estimate, the
baseline the actual time from submitting to the result; the goal is an estimate within 30%.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Goal, Row

NAME = "estimates"
TITLE = "Time estimates (Train tab estimate vs actual job)"
EXAMPLES = {"sentiment": "sentiment_reviews.csv", "translation": "translation_en_es.csv",
            "summarization": "summarization.jsonl", "chat": "chat_pirate.jsonl"}
QUICK_STEPS = 2  # --quick: a couple of steps per job, to check that it all runs
TOLERANCE = 0.3


def run(quick: bool) -> list[Row]:
    from finetune.config import make_config
    from finetune.data import load_examples_or_raise
    from finetune.jobs import DONE, JobQueue
    from finetune.speeds import SpeedBook

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        queue = JobQueue(speeds=SpeedBook(Path(scratch) / "speeds.json"))
        try:
            for task, file in EXAMPLES.items():
                records = load_examples_or_raise(ROOT / "assets" / "examples" / file, task).records
                config = make_config(task, "quick", max_steps=QUICK_STEPS if quick else None)
                for figures in ("built-in", "learned"):
                    submitted = time.monotonic()
                    job = queue.submit(config, records, workspace="benchmark-estimates")
                    finished = queue.wait(job.id)
                    actual = time.monotonic() - submitted
                    if finished.state != DONE:
                        raise RuntimeError(f"{task} job {finished.state}: {finished.error}")
                    estimate = job.estimate
                    rows.append(Row(
                        NAME, f"{task} ({job.config.base}), {figures} figures: estimate", estimate.total_s, "s",
                        actual, Goal("ratio", "<=", 1 + TOLERANCE) if estimate.total_s > actual
                        else Goal("ratio", ">=", 1 - TOLERANCE),
                        f"{len(records)} rows ({estimate.validation_rows} held out); estimated load "
                        f"{estimate.load_s:.0f} s + train {estimate.train_s:.0f} s + measure {estimate.eval_s:.0f} s"))
                    print(rows[-1].cells(), flush=True)
        finally:
            queue.close()
    return rows
