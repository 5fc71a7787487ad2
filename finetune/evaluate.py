"""Task metrics from the well-kept libraries: sacrebleu (BLEU, chrF), rouge-score, and plain
accuracy / macro-F1 for sentiment; teacher-forced loss and perplexity for chat."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch
from transformers import DataCollatorForSeq2Seq

from finetune.features import encode_all
from finetune.loss import target_only_lm_loss
from models.generation import generate_texts, padding_side, sentiment_probabilities
from models.mixed_lora import BASE
from models.prompts import SOURCE_FIELD, TARGET_FIELD

PRIMARY_METRIC = {"sentiment": "accuracy", "translation": "chrf", "summarization": "rougeL", "chat": "perplexity"}


def classification_metrics(references: list[str], predictions: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(references, predictions)),
            "macro_f1": float(f1_score(references, predictions, average="macro"))}


def translation_metrics(references: list[str], predictions: list[str]) -> dict[str, float]:
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(predictions, [references]).score,
            "chrf": sacrebleu.corpus_chrf(predictions, [references]).score}


def summary_metrics(references: list[str], predictions: list[str]) -> dict[str, float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]
    return {name: 100 * sum(s[name].fmeasure for s in scores) / max(1, len(scores))
            for name in ("rouge1", "rouge2", "rougeL")}


def evaluate_model(model: Any, tokenizer: Any, architecture: str, task: str, records: list[dict[str, Any]],
                   bare_base: bool, labels: list[str] | None = None, adapter_name: str | None = None,
                   batch_size: int = 16, max_length: int = 256,
                   pause: Callable[[float], None] = lambda seconds: None) -> dict[str, Any]:
    """Metrics of one model (bare base, or with `adapter_name`) on records; also examples/s and samples.
    `pause(seconds the batch took)` runs between batches (a training job gives way to the app there)."""
    model.eval()
    started = time.perf_counter()
    predictions: list[Any] = []
    for first in range(0, len(records), batch_size):
        batch_started = time.perf_counter()
        rows = records[first: first + batch_size]
        names = [adapter_name or BASE] * len(rows) if adapter_name or bare_base else None
        if task == "sentiment":
            probabilities = sentiment_probabilities(model, tokenizer, [r["text"] for r in rows], labels or [],
                                                    bare_base, names, max_length)
            predictions += [max(p, key=p.get) for p in probabilities]
        elif task == "chat":
            predictions.append(_chat_loss(model, tokenizer, rows, max_length, names))
        else:
            sources = [r[SOURCE_FIELD[task]] for r in rows]
            predictions += generate_texts(model, tokenizer, architecture, task, sources, [bare_base] * len(rows),
                                          names, max_length)
        pause(time.perf_counter() - batch_started)
    seconds = time.perf_counter() - started
    if task == "chat":
        total_loss = sum(loss * count for loss, count in predictions)
        tokens = sum(count for _, count in predictions)
        loss = total_loss / max(1, tokens)
        metrics: dict[str, Any] = {"loss": loss, "perplexity": math.exp(min(loss, 50))}
    else:
        references = [r["label"] if task == "sentiment" else r[TARGET_FIELD[task]] for r in records]
        compute = {"sentiment": classification_metrics, "translation": translation_metrics,
                   "summarization": summary_metrics}[task]
        metrics = compute(references, predictions)
        metrics["samples"] = [{"input": r.get("text", r.get("source")), "reference": ref, "prediction": pred}
                              for r, ref, pred in list(zip(records, references, predictions))[:5]]
    metrics["examples_per_s"] = len(records) / seconds if seconds else 0.0
    metrics["examples"] = len(records)
    return metrics


def _chat_loss(model: Any, tokenizer: Any, rows: list[dict[str, Any]], max_length: int,
               adapter_names: list[str] | None) -> tuple[float, int]:
    """Mean loss over the assistant tokens of a batch, and how many tokens it covered."""
    features = encode_all("chat", "causal", tokenizer, rows, max_length)
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
