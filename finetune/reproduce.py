"""`python -m finetune reproduce`: retrain every shipped adapter from `assets/data/` and measure it
on the held-out test split next to the bare base and an offline peer (VADER, Apertium, lead-10)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from finetune.config import make_config
from finetune.data import read_jsonl
from finetune.evaluate import evaluate_model
from finetune.progress import Progress
from finetune.recipe import LoRARecipe
from models.adapters import METADATA_FILE, SHIPPED_DIR
from models.inference import BASE
from models.tasks import get_task

DATA_DIR = Path(__file__).resolve().parent.parent / "assets" / "data"


def _vader(records: list[dict[str, Any]]) -> dict[str, float]:
    from finetune.peers import vader_label

    return get_task("sentiment").score([r["label"] for r in records], vader_label([r["text"] for r in records]))


def _apertium(records: list[dict[str, Any]]) -> dict[str, float]:
    """Apertium's outputs are stored by the data build, so no apt package is needed here."""
    stored = read_jsonl(DATA_DIR / "translation" / "test_apertium.jsonl")
    by_source = {r["source"]: r["prediction"] for r in stored}
    return get_task("translation").score([r["target"] for r in records], [by_source[r["source"]] for r in records])


def _lead(records: list[dict[str, Any]]) -> dict[str, float]:
    from finetune.peers import lead_summary

    return get_task("summarization").score([r["summary"] for r in records], [lead_summary(r["text"]) for r in records])


@dataclass
class ShippedAdapter:
    name: str
    task: str
    train: str
    settings: dict[str, Any]
    tests: dict[str, tuple[str, Callable[[list[dict[str, Any]]], dict[str, float]] | None]] = field(
        default_factory=dict)  # test name -> (file, peer scorer)
    peer: str = ""
    rows: tuple[int, int] | None = None  # the slice of the training file this stage uses (default: all)
    previous_stage: "ShippedAdapter | None" = None  # trained first (not shipped); this one continues from it


def _chat_persona(persona: str) -> ShippedAdapter:
    return ShippedAdapter(f"chat-{persona}", "chat", f"chat/{persona}.jsonl",
                          dict(epochs=3, learning_rate=5e-4, rank=16, alpha=32, batch_size=8, max_length=256, dropout=0.05))


def _summarization_stages() -> ShippedAdapter:
    """Three stages of 600 steps, each on Debian pairs the earlier ones never saw (a stage costs about
    30 minutes here; one 1,800-step run gives no result to keep until its end). The last is shipped."""
    stages = [(4e-4, (0, 3000)), (3e-4, (3000, 7800)), (3e-4, (7800, 12600))]
    stage = None
    for number, (lr, rows) in enumerate(stages, 1):
        last = number == len(stages)
        stage = ShippedAdapter(
            "summarization-debian" if last else f"summarization-debian-stage{number}", "summarization",
            "summarization/train.jsonl", dict(epochs=1, max_steps=600, learning_rate=lr, rank=16, alpha=32,
                                              batch_size=8, max_length=320),
            {"debian": ("summarization/test.jsonl", _lead)} if last else {}, "lead-10 words" if last else "",
            rows=rows, previous_stage=stage)
    return stage


SHIPPED = [
    ShippedAdapter("sentiment-movies", "sentiment", "sentiment/train.jsonl",
                   dict(epochs=3, learning_rate=1e-3, rank=16, alpha=32, batch_size=32, max_length=128),
                   {"movies": ("sentiment/test.jsonl", _vader), "amazon": ("sentiment/test_amazon.jsonl", _vader)},
                   "VADER"),
    ShippedAdapter("translation-en-es", "translation", "translation/train.jsonl",
                   dict(epochs=1, learning_rate=3e-4, rank=16, alpha=32, batch_size=8, max_length=128, dropout=0.05),
                   {"debian": ("translation/test.jsonl", _apertium)}, "Apertium eng-spa"),
    _summarization_stages(),
    *(_chat_persona(p) for p in ("sarcastic", "cheerful", "professional")),
]


def _as_messages(record: dict[str, Any]) -> dict[str, Any]:
    if "messages" in record:
        return record
    return {"messages": [{"role": "user", "content": record["prompt"]},
                         {"role": "assistant", "content": record["response"]}]}


def _load(task: str, relative: str) -> list[dict[str, Any]]:
    records = read_jsonl(DATA_DIR / relative)
    return [_as_messages(r) for r in records] if task == "chat" else records


def _train(shipped: ShippedAdapter, report: Callable[[Progress], None] | None,
           start: Path | None = None) -> LoRARecipe:
    """Train one stage (continuing the adapter in `start` when given) and measure it on validation."""
    records = _load(shipped.task, shipped.train)
    rows = slice(*shipped.rows) if shipped.rows else slice(None)
    validation = None
    if shipped.task != "chat":
        validation = _load(shipped.task, shipped.train.replace("train", "validation"))
    # fp32 on every machine: bf16 ("auto" on CPUs with bf16 units) would make the shipped adapters
    # depend on the processor that reproduces them.
    config = make_config(shipped.task, "balanced", eval_limit=150, init_adapter=str(start) if start else None,
                         **{"precision": "fp32", **shipped.settings})
    source = f"assets/data/{shipped.train}" + (f" rows {rows.start}-{rows.stop}" if shipped.rows else "")
    recipe = LoRARecipe(config, records[rows], validation, report=report,
                        data_summary={"source": source, "manifest": "assets/data/MANIFEST.json"})
    recipe.run()
    return recipe


def _train_stages(shipped: ShippedAdapter, report: Callable[[Progress], None] | None,
                  previous: Path | None) -> LoRARecipe:
    """The adapter's recipe, after its earlier stages when it has them (`previous`: a folder that
    stands in for the stage just before, so that it is not trained again)."""
    if shipped.previous_stage is None:
        return _train(shipped, report)
    with tempfile.TemporaryDirectory() as scratch:
        if previous is None:
            previous = Path(scratch) / shipped.previous_stage.name
            _train_stages(shipped.previous_stage, report, None).save(previous)
        recipe = _train(shipped, report, previous)
        earlier = json.loads((previous / METADATA_FILE).read_text(encoding="utf-8"))
    recipe.extra_metadata["previous_stage"] = {key: earlier[key] for key in (
        "data", "hyperparameters", "steps", "train_seconds", "loss_history", "previous_stage") if key in earlier}
    return recipe


def reproduce(only: list[str] | None = None, output: Path = SHIPPED_DIR, test_limit: int | None = None,
              report: Callable[[Progress], None] | None = None,
              previous_stage: Path | None = None) -> list[dict[str, Any]]:
    """Train, test and save each shipped adapter (or those named in `only`); returns their metadata.
    `previous_stage` stands in for the stage before the last of an adapter trained in stages."""
    results = []
    for shipped in SHIPPED:
        if only and shipped.name not in only and shipped.task not in only:
            continue
        recipe = _train_stages(shipped, report, previous_stage)
        config = recipe.config
        tests = {}
        for test_name, (relative, peer) in shipped.tests.items():
            test_records = read_jsonl(DATA_DIR / relative)[:test_limit]
            scores = {side: evaluate_model(recipe.model, recipe.tokenizer, recipe.spec.architecture, shipped.task,
                                           test_records, side == "base", recipe.labels,
                                           adapter_name=BASE if side == "base" else "default",
                                           max_length=config.max_length)
                      for side in ("base", "adapter")}
            if peer is not None:
                scores["peer"] = {**peer(test_records), "name": shipped.peer}
            tests[test_name] = {"file": f"assets/data/{relative}", **scores}
            print(json.dumps({shipped.name: {test_name: {k: _numbers(v) for k, v in scores.items()}}}), flush=True)
        recipe.extra_metadata["test"] = tests
        recipe.save(output / shipped.name)
        results.append(recipe.metadata(shipped.name))
    return results


def _numbers(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()
            if k not in ("samples", "predictions")}
