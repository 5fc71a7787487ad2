"""A model's metrics on labelled records: the task's own scores (`models.tasks.TaskSpec.score`:
sacrebleu's BLEU and chrF, rouge-score, accuracy and macro-F1), or, for chat, the teacher-forced loss
and perplexity of the replies."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
from transformers import DataCollatorForSeq2Seq

from finetune.features import encode_record, has_trained_token
from finetune.loss import target_only_lm_loss
from models.generation import generate_texts, padding_side, class_probabilities
from models.mixed_lora import BASE
from models.tasks import get_task


def evaluate_model(model: Any, tokenizer: Any, architecture: str, task: str, records: list[dict[str, Any]],
                   bare_base: bool, labels: list[str] | None = None, adapter_name: str | None = None,
                   batch_size: int = 16, max_length: int = 256,
                   pause: Callable[[float], None] = lambda seconds: None) -> dict[str, Any]:
    """Metrics of one model (bare base, or with `adapter_name`) on records; also examples/s and samples.
    `pause(seconds the batch took)` runs between batches (a training job gives way to the app there)."""
    model.eval()
    spec = get_task(task)
    started = time.perf_counter()
    predictions: list[Any] = []
    for first in range(0, len(records), batch_size):
        batch_started = time.perf_counter()
        rows = records[first: first + batch_size]
        names = [adapter_name or BASE] * len(rows) if adapter_name or bare_base else None
        if spec.kind == "classify":
            probabilities = class_probabilities(model, tokenizer, [r[spec.input_column] for r in rows],
                                                    labels or [], bare_base, names, max_length)
            predictions += [top_label(p) for p in probabilities]
        elif spec.kind == "chat":
            predictions.append(_chat_loss(model, tokenizer, task, rows, max_length, names))
        else:
            sources = [r[spec.input_column] for r in rows]
            predictions += generate_texts(model, tokenizer, architecture, task, sources, [bare_base] * len(rows),
                                          names, max_length)
        pause(time.perf_counter() - batch_started)
    seconds = time.perf_counter() - started
    if spec.kind == "chat":
        total_loss = sum(loss * count for loss, count in predictions)
        tokens = sum(count for _, count in predictions)
        loss = total_loss / max(1, tokens)
        metrics: dict[str, Any] = {"loss": loss, "perplexity": math.exp(min(loss, 50))}
    else:
        metrics = score_predictions(task, records, predictions)
    metrics["examples_per_s"] = len(records) / seconds if seconds else 0.0
    metrics["examples"] = len(records)
    return metrics


def top_label(probabilities: dict[str, float]) -> str:
    """A classification's answer: its most probable label."""
    return max(probabilities, key=probabilities.get)


def score_predictions(task: str, records: list[dict[str, Any]], predictions: list[str]) -> dict[str, Any]:
    """The task's corpus metrics of predictions made for records, with the first few as samples: the one
    scoring both a training run's evaluation and the app's (`finetune.served_eval`) use, so that their
    numbers agree on the same predictions."""
    spec = get_task(task)
    references = [r[spec.output_column] for r in records]
    metrics: dict[str, Any] = spec.score(references, predictions)
    metrics["samples"] = [{"input": r[spec.input_column], "reference": ref, "prediction": pred}
                          for r, ref, pred in list(zip(records, references, predictions))[:5]]
    # each row's answer: comparing two models on the same rows (a paired test, a bootstrap of the
    # difference) needs them
    metrics["predictions"] = predictions
    return metrics


def _chat_loss(model: Any, tokenizer: Any, task: str, rows: list[dict[str, Any]], max_length: int,
               adapter_names: list[str] | None) -> tuple[float, int]:
    """Mean loss over the assistant tokens of a batch, and how many tokens it covered."""
    encoded = (encode_record(task, "causal", tokenizer, row, max_length) for row in rows)
    features = [example for example in encoded if has_trained_token(example)]
    if not features:
        return 0.0, 0
    with padding_side(tokenizer, "right"):
        batch = DataCollatorForSeq2Seq(tokenizer, padding=True, return_tensors="pt")(features)
    batch = {k: v.to(model.device) for k, v in batch.items()}
    if adapter_names:
        batch["adapter_names"] = adapter_names[: batch["input_ids"].shape[0]]
    with torch.inference_mode():
        loss = target_only_lm_loss(model, batch)
    return float(loss), int((batch["labels"][:, 1:] != -100).sum())
