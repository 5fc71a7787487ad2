"""5. Adapter switching on a loaded base, against loading a fresh base with the other adapter.

Per-row adapters (what the app does): a request simply names its adapter, so "switching" is a
call with another name. Its cost is the median time of a call whose adapter differs from the
previous call's, minus the median of a call that repeats it (the same short input each time:
a sentiment classification on MiniLM, a 16-token forward pass on Gemma). peft `set_adapter`
(global switching, which the app never does: it walks every module of the model, so its cost
grows with the model) is timed directly on a private copy, for reference; the < 5 ms goal is on
the app's own switch. The baseline
loads the base from the local cache and attaches the adapter (`load_pretrained` +
`PeftModel.from_pretrained`), what an app without multi-adapter serving does per switch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import torch
from peft import PeftModel

from benchmarks.common import Goal, Row, adapter_variant, median, release_memory, shipped_adapter, stopwatch
from models import inference
from models.adapters import find_adapter
from models.loading import load_pretrained
from models.registry import get_spec

NAME = "switching"
TITLE = "Adapter switching (< 5 ms goal)"
CASES = {"sentiment": "sentiment-movies", "translation": "translation-en-es"}


def _call(task: str, target: inference.Target) -> Callable[[str], object]:
    """One short model call with a given adapter key."""
    loaded = target.loaded
    if task == "sentiment":
        text = "A warm, funny and beautifully acted film."
        return lambda key: inference._classified_rows(loaded, [(text, key)])
    inputs = loaded.tokenizer("English: The weather is nice today and we are going to the beach.\nSpanish:",
                              return_tensors="pt")

    def forward(key: str) -> object:
        with loaded.lock, torch.inference_mode():
            return loaded.model(**inputs, adapter_names=[key])
    return forward


def per_row_switch_ms(call: Callable[[str], object], keys: list[str], rounds: int) -> float:
    """Median(call after another adapter) - median(call after the same adapter), in ms."""
    call(keys[0])
    call(keys[1])
    same, switched = [], []
    previous = keys[0]
    for i in range(rounds):
        key = keys[(i // 2) % 2]  # A A B B A A ...: every other call switches
        with stopwatch() as elapsed:
            call(key)
        (same if key == previous else switched).append(elapsed())
        previous = key
    return (median(switched) - median(same)) * 1000


def _fresh_load(task: str, folder: Path) -> tuple[float, PeftModel]:
    info = find_adapter(str(folder))
    with stopwatch() as elapsed:
        model, _ = load_pretrained(get_spec(info.base_model), info.labels)
        model = PeftModel.from_pretrained(model.eval(), str(folder), adapter_name="a", is_trainable=False)
    return elapsed(), model


def set_adapter_ms(model: PeftModel, other: Path, rounds: int) -> float:
    model.load_adapter(str(other), adapter_name="b", is_trainable=False)
    times = []
    for i in range(rounds):
        with stopwatch() as elapsed:
            model.set_adapter("ab"[i % 2])
        times.append(elapsed())
    return median(times) * 1000


def run(quick: bool) -> list[Row]:
    rows = []
    rounds = 8 if quick else 40
    with tempfile.TemporaryDirectory() as scratch:
        for task, adapter in CASES.items():
            source = shipped_adapter(adapter)
            if source is None:
                continue
            other = adapter_variant(source, Path(scratch) / f"{adapter}-b", 0.9)
            targets = [inference.resolve_target(task, str(folder)) for folder in (source, other)]
            switch = per_row_switch_ms(_call(task, targets[0]), [t.key for t in targets], rounds)
            fresh_s, model = _fresh_load(task, other)
            base = targets[0].loaded.spec.key
            rows += [
                Row(NAME, f"{base}: per-row switch (another adapter name)", max(switch, 0.0), "ms", fresh_s * 1000,
                    Goal("ours", "<=", 5), f"measured difference {switch:+.2f} ms; baseline = fresh base + adapter load"),
                Row(NAME, f"{base}: peft set_adapter", set_adapter_ms(model, source, rounds), "ms", fresh_s * 1000,
                    None, "reference, on a private copy: global switching, which the app never does"),
            ]
            del model
            release_memory()
    return rows
