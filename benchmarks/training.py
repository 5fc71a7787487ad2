"""1. Training throughput: the project's recipe against a course-style Trainer, same model, data and steps.

Ours is `LoRARecipe`'s own Trainer: examples grouped by length, padded per batch, (causal
models) the LM head run only on the answer tokens, and, where the CPU or GPU multiplies bf16
natively, the frozen base weights in bf16 (`TrainConfig.precision` auto; the trained LoRA
weights and the optimizer stay fp32; a what-if row gives our path in fp32). The baseline is
what a course teaches: every example padded to 128 tokens, random order, `model(**batch).loss`
over every real position, fp32.
Both train the same LoRA on the same examples for one epoch of exactly `steps` steps, after a
separate warm-up run; the clock runs from the first step to the end of the last one.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import transformers
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, default_data_collator

from benchmarks.common import Goal, Row, matmul_peak, native_bf16, records, release_memory

NAME = "training"
TITLE = "Training throughput (ours vs course-style Trainer)"
MAX_LENGTH = 128
WARMUP_STEPS = 1
# Timed after each run; bf16 only where the hardware multiplies it (emulated, one 2048^3 matmul takes a minute).
PEAKS: dict[torch.dtype, list[float]] = {torch.float32: [], **({torch.bfloat16: []} if native_bf16() else {})}


@dataclass(frozen=True)
class Case:
    task: str
    data: str
    steps: int
    quick_steps: int
    label: str


CASES = (
    Case("translation", "translation/train.jsonl", 10, 2, "translation, gemma-3-270m"),
    Case("sentiment", "sentiment/train.jsonl", 30, 3, "sentiment, MiniLM-L6"),
    Case("chat", "chat/cheerful.jsonl", 10, 2, "persona chat, SmolLM2-135M"),
)


@dataclass(frozen=True)
class Run:
    """What one timed epoch did: examples, seconds, and token counts the FLOP model needs."""

    examples: int
    seconds: float
    target_tokens: int  # answer tokens (causal) or real input tokens (encoder): the useful work
    real_tokens: int  # non-padding tokens through the model body
    head_positions: int  # positions projected through the LM head (0 for encoders)
    body_params: int  # base-model parameters outside the embeddings
    lora_params: int
    vocab: int
    hidden: int

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.target_tokens / self.seconds


class _BatchLog:
    """Wraps a data collator and counts, per batch: rows, answer tokens, real tokens, LM-head positions."""

    def __init__(self, collate: Any, causal: bool, target_only: bool):
        self.collate, self.causal, self.target_only = collate, causal, target_only
        self.batches: list[tuple[int, int, int, int]] = []

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collate(features)
        real = int(batch["attention_mask"].sum())
        if not self.causal:
            self.batches.append((len(features), real, real, 0))
            return batch
        answers = sum(sum(f.get("answer_mask") or [label != -100 for label in f["labels"]]) for f in features)
        # Position t predicts token t+1: ours projects the positions followed by an answer token,
        # the baseline's model(**batch) projects every position, padding included.
        head = int((batch["labels"][:, 1:] != -100).sum()) if self.target_only else batch["input_ids"].numel()
        self.batches.append((len(features), answers, real, head))
        return batch


class _Clock(TrainerCallback):
    """From the start of training (optimizer built, model prepared) to the end of the last step."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.ended = time.perf_counter()


def _model_shapes(model: Any) -> dict[str, int]:
    """Base parameters outside the embeddings (the LM head is tied to them), LoRA's, vocabulary and width."""
    embeddings = {id(model.get_input_embeddings().weight)}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None:
        embeddings.add(id(output.weight))
    body = sum(p.numel() for name, p in model.named_parameters()
               if id(p) not in embeddings and "embeddings" not in name and "lora_" not in name)
    lora = sum(p.numel() for name, p in model.named_parameters() if "lora_" in name)
    return {"body_params": body, "lora_params": lora, "vocab": model.config.vocab_size,
            "hidden": model.config.hidden_size}


def _timed_epoch(make_trainer: Any, log: _BatchLog, shapes: dict[str, int]) -> Run:
    with tempfile.TemporaryDirectory() as scratch:
        make_trainer(scratch, None, max_steps=WARMUP_STEPS).train()  # allocator, kernels, caches
        clock = _Clock()
        trainer = make_trainer(scratch, log, max_steps=-1, num_train_epochs=1)
        trainer.add_callback(clock)
        trainer.train()
    steps = trainer.state.global_step
    done = log.batches[:steps]  # the data loader may have collated one batch ahead
    return Run(examples=sum(b[0] for b in done), seconds=clock.ended - clock.started,
               target_tokens=sum(b[1] for b in done), real_tokens=sum(b[2] for b in done),
               head_positions=sum(b[3] for b in done), **shapes)


def _config(case: Case, dropout: float | None = None, precision: str | None = None):
    from finetune.config import make_config

    return make_config(case.task, "balanced", epochs=1, max_length=MAX_LENGTH, seed=0, dropout=dropout,
                       precision=precision)


def _ours(case: Case, steps: int, precision: str, dropout: float | None) -> Run:
    from finetune.recipe import LoRARecipe, apply_method

    config = _config(case, dropout, precision)
    recipe = LoRARecipe(config, records(case.task, case.data, steps * config.batch_size), validation_records=[])
    recipe.setup()
    recipe.model = apply_method(recipe.model, recipe.spec, config)
    shapes = _model_shapes(recipe.model)
    causal = recipe.spec.architecture == "causal"
    collate = recipe._collator()

    def make(scratch: str, log: _BatchLog | None, **overrides: Any) -> Trainer:
        trainer = recipe.build_trainer(scratch, **overrides)
        trainer.data_collator = log or collate
        return trainer

    return _timed_epoch(make, _BatchLog(collate, causal, target_only=True), shapes)


def _padded(features: list[dict[str, Any]], pad_id: int, causal: bool) -> list[dict[str, Any]]:
    """The course recipe: pad every example to MAX_LENGTH; labels are the input ids with padding masked."""
    padded = []
    for feature in features:
        ids = feature["input_ids"][:MAX_LENGTH]
        fill = MAX_LENGTH - len(ids)
        row = {"input_ids": ids + [pad_id] * fill, "attention_mask": [1] * len(ids) + [0] * fill}
        if causal:
            row["labels"] = ids + [-100] * fill
            row["answer_mask"] = [label != -100 for label in feature["labels"][:MAX_LENGTH]] + [False] * fill
        else:
            row["labels"] = feature["labels"]
        padded.append(row)
    return padded


def _baseline(case: Case, steps: int) -> Run:
    from finetune.features import encode_all
    from finetune.recipe import apply_method
    from models.loading import load_pretrained
    from models.registry import DEFAULT_BASE, get_spec

    config = _config(case)
    spec = get_spec(DEFAULT_BASE[case.task])
    data = records(case.task, case.data, steps * config.batch_size)
    labels = sorted({r["label"] for r in data}) if case.task == "sentiment" else None
    transformers.set_seed(config.seed)
    model, tokenizer = load_pretrained(spec, labels)
    model = apply_method(model, spec, config)
    shapes = _model_shapes(model)
    causal = spec.architecture == "causal"
    features = encode_all(case.task, spec.architecture, tokenizer, data, MAX_LENGTH,
                          {label: i for i, label in enumerate(labels or [])})
    dataset = _padded(features, tokenizer.pad_token_id, causal)

    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return default_data_collator([{k: v for k, v in row.items() if k != "answer_mask"} for row in rows])

    def make(scratch: str, log: _BatchLog | None, **overrides: Any) -> Trainer:
        args = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
            seed=config.seed, report_to="none", save_strategy="no", disable_tqdm=True, logging_steps=10,
            use_cpu=not torch.cuda.is_available(), remove_unused_columns=False, **overrides)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=log or collate)
        trainer.remove_callback(PrinterCallback)
        return trainer

    return _timed_epoch(make, _BatchLog(collate, causal, target_only=False), shapes)


@lru_cache(maxsize=None)
def measure(task: str, path: str, quick: bool, precision: str = "auto", dropout: float | None = None) -> Run:
    """One timed epoch (cached: the efficiency benchmark reuses this benchmark's runs).
    `precision` and `dropout` replace our default settings (ours only; the baseline is all fp32)."""
    case = next(c for c in CASES if c.task == task)
    steps = case.quick_steps if quick else case.steps
    try:
        return _ours(case, steps, precision, dropout) if path == "ours" else _baseline(case, steps)
    finally:
        release_memory()
        for dtype, samples in PEAKS.items():  # the machine's ceiling around this run (benchmark 2)
            samples.append(matmul_peak(dtype, 3))


def run(quick: bool) -> list[Row]:
    from finetune.precision import resolve_precision

    rows = []
    precision = resolve_precision("auto")  # what our path trains in on this machine
    for case in CASES:
        ours, baseline = measure(case.task, "ours", quick), measure(case.task, "baseline", quick)
        note = f"{ours.examples} examples, {case.quick_steps if quick else case.steps} steps, {precision} base weights"
        rows += [
            Row(NAME, f"{case.label}: examples/s", ours.examples_per_s, "ex/s", baseline.examples_per_s,
                Goal("ratio", ">=", 3), note),
            Row(NAME, f"{case.label}: {'input' if case.task == 'sentiment' else 'target'} tokens/s",
                ours.tokens_per_s, "tok/s", baseline.tokens_per_s,
                note=f"baseline's LM head: {baseline.head_positions / max(ours.head_positions, 1):.1f}x the positions"
                if ours.head_positions else "real (non-padding) tokens"),
        ]
        if precision != "fp32":  # how much of the gain is bf16's, and how much the rest of our path's
            fp32 = measure(case.task, "ours", quick, precision="fp32")
            rows.append(Row(NAME, f"{case.label}: examples/s, ours in fp32 (precision=fp32)", fp32.examples_per_s,
                            "ex/s", baseline.examples_per_s, note=f"what-if: our path without bf16; "
                            f"{ours.examples_per_s / fp32.examples_per_s:.2f}x for bf16"))
    return rows
