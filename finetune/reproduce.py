"""`python -m finetune reproduce`: retrain every shipped adapter from `assets/data/` and measure it
on the held-out test split next to the bare base and an offline peer (VADER, Apertium, lead-10)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from finetune.config import make_config
from finetune.evaluate import classification_metrics, evaluate_model, summary_metrics, translation_metrics
from finetune.recipe import LoRARecipe, Progress
from models.adapters import SHIPPED_DIR
from models.inference import BASE

DATA_DIR = Path(__file__).resolve().parent.parent / "assets" / "data"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _vader(records: list[dict[str, Any]]) -> dict[str, float]:
    from finetune.peers import vader_label

    return classification_metrics([r["label"] for r in records], vader_label([r["text"] for r in records]))


def _apertium(records: list[dict[str, Any]]) -> dict[str, float]:
    """Apertium's outputs are stored by the data build, so no apt package is needed here."""
    stored = _read_jsonl(DATA_DIR / "translation" / "test_apertium.jsonl")
    by_source = {r["source"]: r["prediction"] for r in stored}
    return translation_metrics([r["target"] for r in records], [by_source[r["source"]] for r in records])


def _lead(records: list[dict[str, Any]]) -> dict[str, float]:
    from finetune.peers import lead_summary

    return summary_metrics([r["summary"] for r in records], [lead_summary(r["text"]) for r in records])


@dataclass
class ShippedAdapter:
    name: str
    task: str
    train: str
    settings: dict[str, Any]
    tests: dict[str, tuple[str, Callable[[list[dict[str, Any]]], dict[str, float]] | None]] = field(
        default_factory=dict)  # test name -> (file, peer scorer)
    peer: str = ""


def _chat_persona(persona: str) -> ShippedAdapter:
    return ShippedAdapter(f"chat-{persona}", "chat", f"chat/{persona}.jsonl",
                          dict(epochs=3, learning_rate=5e-4, rank=16, alpha=32, batch_size=8, max_length=256, dropout=0.05))


SHIPPED = [
    ShippedAdapter("sentiment-movies", "sentiment", "sentiment/train.jsonl",
                   dict(epochs=3, learning_rate=1e-3, rank=16, alpha=32, batch_size=32, max_length=128),
                   {"movies": ("sentiment/test.jsonl", _vader), "amazon": ("sentiment/test_amazon.jsonl", _vader)},
                   "VADER"),
    ShippedAdapter("translation-en-es", "translation", "translation/train.jsonl",
                   dict(epochs=1, learning_rate=3e-4, rank=16, alpha=32, batch_size=8, max_length=128, dropout=0.05),
                   {"debian": ("translation/test.jsonl", _apertium)}, "Apertium eng-spa"),
    ShippedAdapter("summarization-debian", "summarization", "summarization/train.jsonl",
                   dict(epochs=1, max_steps=600, learning_rate=4e-4, rank=16, alpha=32, batch_size=8, max_length=320),
                   {"debian": ("summarization/test.jsonl", _lead)}, "lead-10 words"),
    *(_chat_persona(p) for p in ("sarcastic", "cheerful", "professional")),
]


def _as_messages(record: dict[str, Any]) -> dict[str, Any]:
    if "messages" in record:
        return record
    return {"messages": [{"role": "user", "content": record["prompt"]},
                         {"role": "assistant", "content": record["response"]}]}


def _load(task: str, relative: str) -> list[dict[str, Any]]:
    records = _read_jsonl(DATA_DIR / relative)
    return [_as_messages(r) for r in records] if task == "chat" else records


def reproduce(only: list[str] | None = None, output: Path = SHIPPED_DIR, test_limit: int | None = None,
              report: Callable[[Progress], None] | None = None) -> list[dict[str, Any]]:
    """Train, test and save each shipped adapter (or those named in `only`); returns their metadata."""
    results = []
    for shipped in SHIPPED:
        if only and shipped.name not in only and shipped.task not in only:
            continue
        records = _load(shipped.task, shipped.train)
        validation = None
        if shipped.task != "chat":
            validation = _load(shipped.task, shipped.train.replace("train", "validation"))
        config = make_config(shipped.task, "balanced", eval_limit=150, **shipped.settings)
        recipe = LoRARecipe(config, records, validation, report=report,
                            data_summary={"source": f"assets/data/{shipped.train}", "manifest": "assets/data/MANIFEST.json"})
        recipe.run()
        tests = {}
        for test_name, (relative, peer) in shipped.tests.items():
            test_records = _read_jsonl(DATA_DIR / relative)[:test_limit]
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
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items() if k != "samples"}
