"""A training job as a recipe with `setup` / `train` / `save` (the torchtune shape).

`run()` is the whole job: load base, measure it, attach LoRA (or another transfer method),
train with transformers' Trainer, measure again, and save the adapter atomically with its
metadata. Progress goes to a callback the app polls; a cancel event stops within one step.
"""

from __future__ import annotations

import contextlib
import json
import platform
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import (
    DataCollatorForSeq2Seq,
    DataCollatorWithPadding,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import finetune.catalogue  # noqa: F401  (the words of the messages below)
from finetune.card import render_card
from finetune.config import TrainConfig
from finetune.data import split_train_validation
from finetune.evaluate import evaluate_model
from finetune.features import encode_all
from finetune.loss import target_only_lm_loss
from finetune.precision import FrozenWeightsInBf16, resolve_precision
from finetune.progress import Progress
from models.adapters import METADATA_FILE, AdapterInfo, find_adapter, save_adapter_atomically
from models.loading import default_device, load_pretrained
from models.messages import LocalizedError, Message, say
from models.registry import DEFAULT_BASE, BaseModelSpec, get_spec
from models.tasks import get_task

_TASK_TYPES = {"encoder": TaskType.SEQ_CLS, "seq2seq": TaskType.SEQ_2_SEQ_LM, "causal": TaskType.CAUSAL_LM}
_HEAD_NAMES = ("classifier", "score", "pre_classifier", "pooler")


class RecipeError(LocalizedError, ValueError):
    """Settings or data a training run cannot use (a ValueError, as these were before)."""


class TrainingCancelled(Exception):
    """The user pressed Stop; nothing was saved."""


class GiveWay:
    """Pauses training between steps while the app answers requests (`busy` is set, see `finetune.jobs`),
    for at most `share` times the last step's duration at a time: answering people comes first, and the
    job still gets about 1 / (1 + share) of the machine under a steady load."""

    POLL_S = 0.05

    def __init__(self, busy: Any = None, share: float = 4.0, minimum_s: float = 1.0):
        self.busy, self.share, self.minimum_s = busy, share, minimum_s
        self.paused_s = 0.0  # in all, for the job's record

    def __call__(self, step_seconds: float, cancel: threading.Event) -> None:
        if self.busy is None:
            return
        limit = max(self.minimum_s, self.share * step_seconds)
        started = time.perf_counter()
        while self.busy.is_set() and not cancel.is_set() and time.perf_counter() - started < limit:
            time.sleep(self.POLL_S)
        self.paused_s += time.perf_counter() - started


class _ProgressCallback(TrainerCallback):
    """Turns Trainer events into Progress reports, honours the cancel event between steps, and gives
    way to the app's requests between steps."""

    def __init__(self, progress: Progress, report: Callable[[Progress], None], cancel: threading.Event,
                 batch_size: int, give_way: GiveWay):
        self.progress, self.report, self.cancel, self.batch_size = progress, report, cancel, batch_size
        self.give_way = give_way
        self.started = self.step_started = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        self.progress.total_steps = state.max_steps

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.cancel.is_set():
            control.should_training_stop = True
        self.give_way(time.perf_counter() - self.step_started, self.cancel)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        elapsed = time.perf_counter() - self.started
        p = self.progress
        p.step, p.epoch, p.elapsed_s = state.global_step, float(state.epoch or 0), elapsed
        p.loss, p.learning_rate = float(logs["loss"]), float(logs.get("learning_rate", 0.0))
        p.losses.append((p.step, p.loss))
        p.examples_per_s = p.step * self.batch_size * max(1, args.world_size) / elapsed if elapsed else 0.0
        p.eta_s = elapsed / p.step * (p.total_steps - p.step) if p.step else None
        self.report(p)


class _Trainer(Trainer):
    """Trainer that, for bf16 training, computes the loss under autocast. It enters autocast itself,
    where the Trainer's bf16=True has accelerate wrap the model's forward instead: that wrapper stays
    on the model after training (the app would measure and serve it in bf16) and is not put on again
    by a second Trainer of the same model."""

    def __init__(self, *args: Any, bf16: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.bf16 = bf16

    def compute_loss_context_manager(self) -> contextlib.ExitStack:
        stack = super().compute_loss_context_manager()
        if self.bf16:
            stack.enter_context(torch.autocast(self.args.device.type, dtype=torch.bfloat16))
        return stack


class _TargetOnlyLossTrainer(_Trainer):
    """Trainer whose causal-LM loss projects only the labelled positions through the LM head.

    Under several processes the model is wrapped for gradient sync, which only its own forward
    triggers, so there the standard loss is used."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.args.world_size > 1 or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return target_only_lm_loss(model, inputs)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def apply_method(model: Any, spec: BaseModelSpec, config: TrainConfig) -> Any:
    """Make the chosen parameters trainable: LoRA, a new head only, upper layers only, or all."""
    start = starting_adapter(spec, config)
    if start is not None:
        return PeftModel.from_pretrained(model, str(start.path), is_trainable=True)
    if config.method == "lora":
        lora = LoraConfig(task_type=_TASK_TYPES[spec.architecture], r=config.rank, lora_alpha=config.alpha,
                          lora_dropout=config.dropout, target_modules=list(config.target_modules or ()) or "all-linear")
        return get_peft_model(model, lora)
    for name, parameter in model.named_parameters():
        if config.method == "head":
            parameter.requires_grad = any(part in name for part in _HEAD_NAMES)
        elif config.method == "freeze":
            parameter.requires_grad = not ("embed" in name or _layer_index(name) < config.freeze_layers)
    if config.method == "head" and spec.architecture != "encoder":
        raise RecipeError("job.head_needs_classifier")
    return model


def starting_adapter(spec: BaseModelSpec, config: TrainConfig) -> AdapterInfo | None:
    """The adapter a LoRA job continues (a second stage on new data, or more steps), checked to fit
    its task, base and rank; None for a fresh LoRA."""
    if not config.init_adapter:
        return None
    start = find_adapter(config.init_adapter)
    if (start.task, start.base_model) != (config.task, spec.key):
        raise RecipeError("job.start_mismatch", name=start.name, task=start.task, base=start.base_model,
                          job_task=config.task, job_base=spec.key)
    if start.rank not in (None, config.rank):
        raise RecipeError("job.start_rank", name=start.name, rank=start.rank)
    return start


def _layer_index(name: str) -> int:
    """The transformer block a parameter belongs to (a large number when it belongs to none)."""
    parts = name.split(".")
    for before, after in zip(parts, parts[1:]):
        if before in ("layer", "layers", "block", "h") and after.isdigit():
            return int(after)
    return 1 << 30


class LoRARecipe:
    """One training job. `run()` = setup, evaluate the base, train, evaluate, save."""

    def __init__(self, config: TrainConfig, train_records: list[dict[str, Any]],
                 validation_records: list[dict[str, Any]] | None = None,
                 report: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                 data_summary: dict[str, Any] | None = None, give_way: GiveWay | None = None):
        self.config = config.validate()
        self.spec = get_spec(config.base or DEFAULT_BASE[config.task])
        starting_adapter(self.spec, config)  # a wrong or unfitting adapter fails now, not after measuring the base
        if validation_records is None:
            train_records, validation_records = split_train_validation(
                train_records, config.task, config.validation_fraction, config.seed)
        self.train_records, self.validation_records = train_records, validation_records
        self.progress = Progress()
        self.report = report or (lambda progress: None)
        self.cancel = cancel or threading.Event()
        self.data_summary = data_summary or {}
        self.give_way = give_way or GiveWay()
        self.metrics: dict[str, dict[str, Any]] = {}
        # What the job's parts took, for the next jobs' estimates (`finetune.speeds.SpeedBook.record`)
        self.timings = {"train_rows": len(train_records), "train_s": 0.0, "eval_s": 0.0, "eval_examples": 0}
        self.extra_metadata: dict[str, Any] = {}
        task = get_task(config.task)
        # every label the job will see: a set too small to stratify may hold one back from training
        self.labels = (sorted({r[task.output_column] for r in [*train_records, *validation_records]})
                       if task.kind == "classify" else None)

    def _status(self, status: str, message: Message | str = "") -> None:
        self.progress.tell(status, message)
        self.report(self.progress)
        if self.cancel.is_set() and status not in ("done", "cancelled"):
            raise TrainingCancelled()

    def setup(self) -> None:
        self._status("loading", say("job.loading", model=self.spec.hub_id))
        transformers.set_seed(self.config.seed)
        self.model, self.tokenizer = load_pretrained(self.spec, self.labels)
        self.model.to(default_device())
        self.tokenizer.padding_side = "right"
        label2id = {label: i for i, label in enumerate(self.labels or [])}
        self.train_features = encode_all(self.config.task, self.spec.architecture, self.tokenizer,
                                         self.train_records, self.config.max_length, label2id)
        if not self.train_features:
            raise RecipeError("job.no_examples")

    def evaluate(self, bare_base: bool) -> dict[str, Any]:
        self._status("evaluating", say("job.measuring_base" if bare_base else "job.measuring_adapter"))
        records = self.validation_records[: self.config.eval_limit]
        if not records:
            return {}
        started = time.perf_counter()
        metrics = evaluate_model(self.model, self.tokenizer, self.spec.architecture, self.config.task, records,
                                 bare_base, self.labels, max_length=self.config.max_length,
                                 pause=lambda seconds: self.give_way(seconds, self.cancel))
        self.timings["eval_s"] += time.perf_counter() - started
        self.timings["eval_examples"] += len(records)
        return metrics

    def train(self) -> None:
        self.model = apply_method(self.model, self.spec, self.config)
        self.trainable_params, self.total_params = count_parameters(self.model)
        self._status("training", say("job.training", trainable=self.trainable_params, total=self.total_params))
        with tempfile.TemporaryDirectory() as scratch:
            trainer = self.build_trainer(scratch)
            started = time.perf_counter()
            trainer.train()
            self.train_seconds = self.timings["train_s"] = time.perf_counter() - started
            self.is_main_process = trainer.is_world_process_zero()
        if self.cancel.is_set():
            raise TrainingCancelled()

    def build_trainer(self, output_dir: str, **overrides: Any) -> Trainer:
        """The Trainer `train()` runs (benchmarks build it too); `overrides` replace TrainingArguments fields."""
        cuda = torch.cuda.is_available()
        bf16 = resolve_precision(self.config.precision) == "bf16"
        settings = dict(
            output_dir=output_dir, per_device_train_batch_size=self.config.batch_size,
            num_train_epochs=self.config.epochs, max_steps=self.config.max_steps,
            learning_rate=self.config.learning_rate, lr_scheduler_type="linear", warmup_steps=0.05,
            logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
            seed=self.config.seed, data_seed=self.config.seed, train_sampling_strategy="group_by_length",
            remove_unused_columns=False, use_cpu=not cuda,
            average_tokens_across_devices=False, dataloader_num_workers=0,
        )
        args = TrainingArguments(**{**settings, **overrides})
        trainer_class = _TargetOnlyLossTrainer if self.spec.architecture == "causal" else _Trainer
        trainer = trainer_class(model=self.model, args=args, bf16=bf16, train_dataset=self.train_features,
                                data_collator=self._collator(), processing_class=self.tokenizer,
                                callbacks=[_ProgressCallback(self.progress, self.report, self.cancel,
                                                             self.config.batch_size, self.give_way)])
        trainer.remove_callback(PrinterCallback)  # progress goes through our callback instead
        if bf16:
            trainer.add_callback(FrozenWeightsInBf16(self.model))
        return trainer

    def _collator(self) -> Any:
        if self.spec.architecture == "encoder":
            return DataCollatorWithPadding(self.tokenizer)
        seq2seq_model = self.model if self.spec.architecture == "seq2seq" else None
        return DataCollatorForSeq2Seq(self.tokenizer, model=seq2seq_model, label_pad_token_id=-100)

    def metadata(self, name: str) -> dict[str, Any]:
        return {
            "name": name, "task": self.config.task, "base_model": self.spec.key, "base_hub_id": self.spec.hub_id,
            "labels": self.labels, "method": self.config.method, "hyperparameters": self.config.to_dict(),
            "data": {**self.data_summary, "train_rows": len(self.train_records),
                     "validation_rows": len(self.validation_records)},
            "metrics": self.metrics, "primary_metric": get_task(self.config.task).primary_metric,
            "trainable_params": self.trainable_params, "total_params": self.total_params,
            "train_seconds": round(self.train_seconds, 1), "steps": self.progress.step,
            "loss_history": self.progress.losses, "device": str(default_device()),
            "precision": resolve_precision(self.config.precision), "timings": self.timings,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "peft": peft.__version__, "python": platform.python_version()},
            **self.extra_metadata,
        }

    def save(self, destination: Path) -> Path:
        """Write adapter + metadata + model card into a temporary folder, then swap it in."""
        if self.config.method != "lora":
            raise RecipeError("job.only_lora_saves", method=self.config.method)
        self._status("saving", say("job.saving", destination=str(destination)))
        metadata = self.metadata(destination.name)
        self.model.peft_config["default"].base_model_name_or_path = self.spec.hub_id

        def write(folder: Path) -> None:
            self.model.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
            (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2, ensure_ascii=False))
            (folder / "README.md").write_text(model_card(metadata))

        return save_adapter_atomically(write, destination)

    def run(self, destination: Path | None = None) -> dict[str, Any]:
        """The whole job; returns the metadata (and saves when a destination is given)."""
        try:
            self.setup()
            self.metrics["base"] = self.evaluate(bare_base=True)
            self.train()
            self.metrics["adapter"] = self.evaluate(bare_base=False)
            if destination is not None and self.is_main_process:
                self.save(destination)
        except TrainingCancelled:
            self._status("cancelled", say("job.stopped"))
            raise
        self._status("done", say("job.finished"))
        return self.metadata(destination.name if destination else "unsaved")


def model_card(metadata: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    """The adapter folder's README.md: the card the Adapters tab shows, in English (`finetune.card`);
    `evaluation` is the stored persona evaluation, for a shipped persona (`finetune.persona_eval`)."""
    return render_card(metadata["name"], metadata, "en", evaluation)
