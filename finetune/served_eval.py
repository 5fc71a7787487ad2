"""Several models (the bare base, adapters) measured on one labelled file through the app's serving.

`python -m finetune eval` runs a whole file under the base's lock, which is right for one person at a
command line; in the app it would stall every other student for as long as the file takes. Here the
rows go to `models.inference` a chunk at a time, like any other request: translations and summaries
through the base's continuous-batching engine (in line with everyone else's, a fair share per owner),
classifications through the micro-batcher. Between chunks the caller hears how far it got, and can
stop. The predictions are scored by `finetune.evaluate.score_predictions`, the scoring the command line
uses, so that both give the same numbers for the same predictions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from finetune.data import escape_spreadsheet_cell
from finetune.evaluate import score_predictions, top_label
from models import inference
from models.tasks import TaskSpec, get_task

# Rows sent together: enough for the micro-batcher's batch of 16, and few enough that a Stop (or a
# progress update) never waits long for the chunk in flight.
CHUNK_ROWS = 16


@dataclass
class AdapterResult:
    """One model's measurement on the file."""

    adapter: str | None = field(metadata={"help": "The adapter's name; None for the bare base."})
    metrics: dict[str, float] = field(metadata={
        "help": "The task's corpus metrics (`TaskSpec.score`) and `examples`, the rows measured."})
    rows: list[dict[str, Any]] = field(metadata={
        "help": "Per row, in the file's order: input, reference, prediction and its own scores "
                "(`TaskSpec.score_one`)."})
    labels: list[str] = field(default_factory=list, metadata={
        "help": "classify: the labels in the confusion matrix's order (the references' and the predictions')."})
    confusion: list[list[int]] = field(default_factory=list, metadata={
        "help": "classify: rows measured per (reference label, predicted label), as sklearn's confusion_matrix."})

    def worst_first(self, metric: str) -> list[dict[str, Any]]:
        """The rows from the lowest score on `metric` up (rows that score alike keep the file's order)."""
        return sorted(self.rows, key=lambda row: row[metric])


@dataclass
class Progress:
    """How far an evaluation got: rows predicted so far of all (rows × models), and the finished models."""

    done: int
    total: int
    results: list[AdapterResult]


def served_predictions(spec: TaskSpec, texts: list[str], adapter: str | None, workspace: str | None = None,
                       owner: str | None = None, chunk_rows: int = CHUNK_ROWS,
                       base: str | None = None) -> Iterator[list[str]]:
    """One model's answers to the texts, a chunk at a time. A chunk's rows are sent together so that they
    share batches: classifications in threads (the micro-batcher joins them), generations in one call.
    `base` names the bare base when `adapter` is None (default: the task's)."""
    for first in range(0, len(texts), chunk_rows):
        chunk = texts[first: first + chunk_rows]
        if spec.kind == "classify":
            with ThreadPoolExecutor(len(chunk)) as pool:
                answers = list(pool.map(lambda text: inference.classify(spec.name, text, adapter, base,
                                                                        workspace=workspace), chunk))
            yield [top_label(probabilities) for probabilities in answers]
        else:
            yield inference.final_texts(inference.generation_streams(
                spec.name, [(text, adapter) for text in chunk], base, workspace=workspace, owner=owner))


def measured(spec: TaskSpec, adapter: str | None, records: list[dict[str, Any]],
             predictions: list[str]) -> AdapterResult:
    """The corpus metrics, per-row scores and (for a classification) confusion matrix of one model's predictions."""
    metrics = score_predictions(spec.name, records, predictions)
    scores = {name: value for name, value in metrics.items() if isinstance(value, float)}
    rows = [{"input": record[spec.input_column], "reference": record[spec.output_column], "prediction": prediction,
             **spec.score_one(record[spec.output_column], prediction)}
            for record, prediction in zip(records, predictions)]
    result = AdapterResult(adapter, {**scores, "examples": len(records)}, rows)
    if spec.kind == "classify":
        from sklearn.metrics import confusion_matrix

        references = [row["reference"] for row in rows]
        result.labels = sorted(set(references) | set(predictions))
        result.confusion = confusion_matrix(references, predictions, labels=result.labels).tolist()
    return result


def evaluate_served(task: str, records: list[dict[str, Any]], adapters: list[str | None],
                    workspace: str | None = None, owner: str | None = None,
                    chunk_rows: int = CHUNK_ROWS, base: str | None = None) -> Iterator[Progress]:
    """Measure each model (an adapter's name, None for the base) on the records, one after the other;
    a Progress after every chunk, the last one with every model's result. Closing the iterator stops
    it after the chunk in flight (its requests leave the engine's line)."""
    spec = get_task(task)
    if spec.kind == "chat":
        raise ValueError(f"Task {task!r}: a chat model is measured by its loss on the replies "
                         "(python -m finetune eval), not by answers to compare.")
    texts = [record[spec.input_column] for record in records]
    total, results = len(records) * len(adapters), []
    for adapter in adapters:
        predictions: list[str] = []
        for chunk in served_predictions(spec, texts, adapter, workspace, owner, chunk_rows, base):
            predictions += chunk
            yield Progress(len(results) * len(records) + len(predictions), total, results)
        results.append(measured(spec, adapter, records, predictions))
    yield Progress(total, total, results)


def predictions_csv(task: str, results: list[AdapterResult], folder: Path, base_name: str = "base") -> Path:
    """Every model's predictions side by side, row by row, with each one's score on the task's primary
    metric, as CSV (formula-like cells escaped: a spreadsheet would run them)."""
    spec = get_task(task)
    frame = pd.DataFrame({"input": [row["input"] for row in results[0].rows],
                          "reference": [row["reference"] for row in results[0].rows]})
    for result in results:
        name = result.adapter or base_name
        frame[name] = [row["prediction"] for row in result.rows]
        frame[f"{name} {spec.primary_metric}"] = [row[spec.primary_metric] for row in result.rows]
    path = folder / f"predictions-{task}.csv"
    frame.map(escape_spreadsheet_cell).to_csv(path, index=False)
    return path
