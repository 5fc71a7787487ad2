"""`python -m finetune train|eval|reproduce|results|compare-methods`: the engine's command line.

Runs unchanged under `accelerate launch` (the Trainer picks up the processes and the GPU)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path

from transformers import HfArgumentParser

from finetune.config import ConfigError, TrainConfig, make_config
from finetune.data import DataValidationError, load_examples_or_raise
from models import quiet_libraries
from models.registry import register_models_from_env
from models.tasks import task_names


def _print_progress(progress) -> None:
    if progress.status == "training" and progress.step:
        eta = f"{progress.eta_s:.0f}s" if progress.eta_s is not None else "?"
        print(f"step {progress.step}/{progress.total_steps}  loss {progress.loss:.4f}  lr {progress.learning_rate:.2e}"
              f"  {progress.examples_per_s:.1f} ex/s  ETA {eta}", flush=True)
    elif progress.message:
        print(f"[{progress.status}] {progress.message}", flush=True)


@dataclass
class TrainFiles:
    """What `train` reads and where it saves; every other flag is a `TrainConfig` field."""

    data: str = field(metadata={"help": "Training examples (CSV or JSONL, see README)."})
    validation: str | None = field(default=None, metadata={
        "help": "Validation examples (default: a split of --data)."})
    name: str | None = field(default=None, metadata={"help": "Adapter name (saved in the user's adapter library)."})
    output: str | None = field(default=None, metadata={"help": "Save the adapter to this folder instead of the library."})


def _add_train(commands) -> None:
    """Flags from the dataclasses' fields and help metadata; a flag left out keeps the preset's value."""
    train = commands.add_parser("train", help="Train a LoRA adapter on a CSV/JSONL file.",
                                dataclass_types=[TrainFiles, TrainConfig], formatter_class=argparse.HelpFormatter)
    train.set_defaults(**{f.name: None for f in fields(TrainConfig) if f.name not in ("task", "preset")})


def _train(args: argparse.Namespace) -> int:
    from finetune.recipe import LoRARecipe, TrainingCancelled
    from models.adapters import sanitize_name, workspace_dir

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in ("task", "preset")}
    config = make_config(args.task, args.preset, **overrides)
    data = load_examples_or_raise(args.data, args.task)
    for warning in data.warnings:
        print(f"warning: {warning.message}", file=sys.stderr)
    validation = load_examples_or_raise(args.validation, args.task).records if args.validation else None
    name = sanitize_name(args.name or f"{args.task}-{Path(args.data).stem}")
    destination = Path(args.output) if args.output else workspace_dir() / name
    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: (print("\nstopping after this step...", flush=True), cancel.set()))
    recipe = LoRARecipe(config, data.records, validation, report=_print_progress, cancel=cancel,
                        data_summary={**data.summary(), "file": Path(args.data).name})
    try:
        metadata = recipe.run(destination if config.method == "lora" else None)
    except TrainingCancelled:
        print("cancelled: nothing was saved", file=sys.stderr)
        return 130
    if not recipe.is_main_process:  # under `accelerate launch`, one summary is enough
        return 0
    print(json.dumps({"adapter": str(destination) if config.method == "lora" else None,
                      "trainable_params": metadata["trainable_params"], "total_params": metadata["total_params"],
                      "train_seconds": metadata["train_seconds"],
                      "metrics": {side: {k: v for k, v in m.items() if k not in ("samples", "predictions")}
                                  for side, m in metadata["metrics"].items()}}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from finetune.evaluate import evaluate_model
    from models.inference import resolve_target

    data = load_examples_or_raise(args.data, args.task)
    records = data.records[: args.limit] if args.limit else data.records
    target = resolve_target(args.task, None if args.base_only else args.adapter, args.base)
    loaded = target.loaded
    with loaded.lock:
        metrics = evaluate_model(loaded.model, loaded.tokenizer, loaded.spec.architecture, args.task, records,
                                 target.key is None, list(loaded.labels or []), adapter_name=target.key,
                                 max_length=loaded.spec.max_input_tokens)
    samples = metrics.pop("samples", [])
    metrics.pop("predictions", None)  # an answer per row: for comparisons, not for reading
    for name, value in metrics.items():
        print(f"{name:>15}: {value:.4f}" if isinstance(value, float) else f"{name:>15}: {value}")
    if args.json:
        print(json.dumps({"adapter": None if target.info is None else target.info.name, **metrics,
                          "samples": samples}, ensure_ascii=False))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from finetune.methods import run_comparison

    from models.registry import DEFAULT_BASE

    base = args.base or DEFAULT_BASE["sentiment"]
    results = json.dumps(run_comparison(base, report=lambda line: print(line, file=sys.stderr, flush=True)),
                         indent=1, ensure_ascii=False)
    if args.output:
        args.output.write_text(results + "\n", encoding="utf-8")
    else:
        print(results)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=HfArgumentParser)
    _add_train(commands)
    evaluate = commands.add_parser("eval", help="Measure a base model or an adapter on a labelled file.")
    evaluate.add_argument("--task", choices=task_names(), required=True)
    evaluate.add_argument("--data", required=True)
    group = evaluate.add_mutually_exclusive_group()
    group.add_argument("--adapter", help="Adapter name or folder.")
    group.add_argument("--base-only", action="store_true", help="Measure the bare base model.")
    evaluate.add_argument("--base", help="Base model for --base-only (default: the task's).")
    evaluate.add_argument("--limit", type=int, help="Use only the first N examples.")
    evaluate.add_argument("--json", action="store_true", help="Also print one JSON object on the last line.")
    again = commands.add_parser("reproduce", help="Retrain and test every shipped adapter from assets/data.")
    again.add_argument("--only", nargs="*", help="Adapter names or tasks to rebuild (default: all).")
    again.add_argument("--test-limit", type=int, help="Test on the first N held-out examples only.")
    again.add_argument("--previous-stage", type=Path, help="For an adapter trained in stages: start its last "
                       "stage from this folder instead of training the earlier ones again.")
    again.add_argument("--measure-only", action="store_true", help="Do not train: test the stored adapters on the "
                       "test sets their metadata lacks (added since) and rewrite the test results and the card.")
    table = commands.add_parser("results", help="Print the shipped adapters' test results against their goals "
                                "(markdown).")
    table.add_argument("--readme", type=Path, help="Instead, write the table into this README, over its old one.")
    compare = commands.add_parser("compare-methods", help="Train the Learn tab's six methods on MiniLM and score "
                                  "them on held-out reviews (assets/learn_results.json).")
    compare.add_argument("--base", help="Sentiment base model (default: the task's, minilm-l6).")
    compare.add_argument("--output", type=Path, help="Write the results as JSON here (default: print them).")
    args = parser.parse_args(argv)
    if args.command == "results":
        from finetune.results import results_table, write_into_readme

        if args.readme:
            write_into_readme(args.readme)
        else:
            print(results_table())
        return 0

    quiet_libraries()
    register_models_from_env()
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "compare-methods":
            return _compare(args)
        from finetune.reproduce import measure, reproduce

        if args.measure_only:
            measure(args.only, test_limit=args.test_limit)
        else:
            reproduce(args.only, test_limit=args.test_limit, report=_print_progress, previous_stage=args.previous_stage)
        return 0
    except (ConfigError, DataValidationError, ValueError, KeyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
