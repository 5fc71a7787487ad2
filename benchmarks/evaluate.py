"""10. Evaluate: a test file measured through the app's serving, against the same predictions one at a time.

The first 100 sentences of assets/data/translation/test.jsonl (20 with --quick) are translated by the
shipped adapter translation-en-es on gemma-3-270m twice: as /evaluate and the Evaluate tab do it
(`finetune.served_eval`: chunks of 16 rows sent together to the base's continuous-batching engine, under
one owner, so with that owner's fair share of places), and as a student would, one `inference.translate`
call after another. Both are greedy: the note says whether the predictions agree. "ours" is the served
time, the baseline the one-at-a-time time; the goal is at least twice as fast.
"""

from __future__ import annotations

import time

from benchmarks.common import DATA, Goal, Row, release_memory

NAME = "evaluate"
TITLE = "Evaluate (a test file through the serving vs one request at a time)"
TASK, ADAPTER, ROWS, QUICK_ROWS = "translation", "translation-en-es", 100, 20


def run(quick: bool) -> list[Row]:
    from finetune.data import load_examples_or_raise
    from finetune.served_eval import evaluate_served
    from models import inference
    from models.registry import DEFAULT_BASE

    records = load_examples_or_raise(DATA / TASK / "test.jsonl", TASK).records[: QUICK_ROWS if quick else ROWS]
    inference.translate(records[0]["source"], adapter=ADAPTER)  # load the base and the adapter first
    started = time.perf_counter()
    one_by_one = [inference.translate(record["source"], adapter=ADAPTER) for record in records]
    sequential_s = time.perf_counter() - started
    started = time.perf_counter()
    *_, served = evaluate_served(TASK, records, [ADAPTER], owner="benchmark-evaluate")
    served_s = time.perf_counter() - started
    result = served.results[0]
    differ = sum(row["prediction"] != text for row, text in zip(result.rows, one_by_one))
    release_memory()
    note = (f"{len(records)} rows on {DEFAULT_BASE[TASK]} with {ADAPTER}: {len(records) / served_s:.2f} rows/s served "
            f"vs {len(records) / sequential_s:.2f} one at a time; chrF {result.metrics['chrf']:.1f}, "
            f"BLEU {result.metrics['bleu']:.1f}; {differ} prediction(s) differ between the two")
    row = Row(NAME, f"{len(records)} translations, served evaluation (/evaluate)", served_s, "s", sequential_s,
              Goal("ratio", "<=", 0.5), note)
    print(row.cells(), flush=True)
    return [row]


if __name__ == "__main__":  # `python -m benchmarks.evaluate [--quick]`, until benchmarks/__main__.py lists it
    import sys

    from benchmarks.__main__ import quiet  # (its import sets the offline environment first)
    from benchmarks.common import cpu_busy_note, table

    quiet()
    print(cpu_busy_note(), flush=True)
    print(table(run("--quick" in sys.argv[1:])))
