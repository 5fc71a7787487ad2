"""3. Inference latency per task, through the app's own functions (`models.inference`).

Typical inputs from the held-out data: a 15-word sentence to translate, a review of about 30
words, a 120-word paragraph to summarize, a one-line chat question. Each side runs once untimed
(model load, adapter attach), then every input once; p50 and p95 are over those calls
(interpolated between ranks). "ours" answers with an adapter, "baseline" is the bare base on
the same inputs (it gets a few-shot prompt, so it reads more and may write more): the two ways
the app answers. The adapter is a shipped one where the task has one, else a freshly
initialised LoRA (B = 0: the same cost). Chat streams: time to first token is the first
streamed text; tokens/s counts the reply's tokens after it. Translation, summary and sentiment
go through the micro-batcher, whose window (30 ms for generation, 10 ms for sentiment) is included.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Callable

from benchmarks.common import (DATA, Row, fresh_adapter, like_a_server, median, percentile, release_memory,
                               texts_of_words)

NAME = "latency"
TITLE = "Inference latency (p50 / p95 per task)"

# task -> (inference function name, data file, text field, words, inputs in a full run, base of a fresh LoRA)
TASKS = {
    "translation": ("translate", "translation/test.jsonl", "source", 15, 8, "gemma-3-270m"),
    "sentiment": ("classify_sentiment", "sentiment/test.jsonl", "text", 30, 20, "minilm-l6"),
    "summarization": ("summarize", "summarization/test.jsonl", "text", 120, 4, "gemma-3-270m"),
}
CHAT_TURNS = 4


def _adapter_for(task: str, base: str, scratch: Path) -> tuple[str, str]:
    """A shipped adapter for the task, or a fresh LoRA saved under `scratch`; (path, description)."""
    from models.adapters import list_adapters

    shipped = [info for info in list_adapters(task, workspace=None) if info.shipped]
    if shipped:
        return str(shipped[0].path), f"shipped {shipped[0].name}"
    return str(fresh_adapter(base, task, scratch / f"fresh-{task}")), "fresh LoRA r=16"


def _latencies(call: Callable[[str], object], inputs: list[str]) -> list[float]:
    call(inputs[0])  # load the base, attach the adapter
    like_a_server()
    times = []
    for text in inputs:
        started = time.perf_counter()
        call(text)
        times.append(time.perf_counter() - started)
    return times


def _chat_turn(message: str, adapter: str | None) -> tuple[float, float, int]:
    """(seconds to the first streamed text, tokens per second after it, tokens) for one reply."""
    from models.inference import chat, resolve_target

    started = time.perf_counter()
    first = None
    reply = ""
    for reply in chat(message, adapter=adapter):
        first = first or time.perf_counter()
    ended = time.perf_counter()
    tokens = len(resolve_target("chat", adapter).loaded.tokenizer(reply)["input_ids"])
    return first - started, (tokens - 1) / max(ended - first, 1e-9), tokens


def _rows(label: str, scale: float, unit: str, adapter: list[float], base: list[float], note: str) -> list[Row]:
    """p50 and p95 of the adapter's calls, against the bare base's as the baseline."""
    return [Row(NAME, f"{label}: p{q}", percentile(adapter, q) * scale, unit, percentile(base, q) * scale,
                note=note if q == 50 else f"{len(adapter)} calls each") for q in (50, 95)]


def run(quick: bool) -> list[Row]:
    from models import inference

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for task, (function, data, field, words, count, base) in TASKS.items():
            inputs = texts_of_words(data, field, words, 2 if quick else count)
            adapter, description = _adapter_for(task, base, Path(scratch))
            call = getattr(inference, function)
            scale, unit = (1000, "ms") if task == "sentiment" else (1, "s")
            bare = _latencies(lambda text: call(text), inputs)
            tuned = _latencies(lambda text: call(text, adapter=adapter), inputs)
            rows += _rows(f"{task}, {words}-word input", scale, unit, tuned, bare, description)
        questions = [json.loads(line)["question"]
                     for line in (DATA / "chat/factual_test.jsonl").read_text(encoding="utf-8").splitlines()]
        adapter, description = _adapter_for("chat", "smollm2-135m-instruct", Path(scratch))
        turns = {}
        for variant, name in (("base", None), ("adapter", adapter)):
            _chat_turn(questions[0], name)
            like_a_server()
            turns[variant] = [_chat_turn(q, name) for q in questions[1: 1 + (1 if quick else CHAT_TURNS)]]
        first = {variant: [t for t, _, _ in values] for variant, values in turns.items()}
        speed = {variant: median([s for _, s, _ in values]) for variant, values in turns.items()}
        length = {variant: median([n for _, _, n in values]) for variant, values in turns.items()}
        rows += _rows("chat turn, time to first token", 1000, "ms", first["adapter"], first["base"], description)
        rows.append(Row(NAME, "chat turn, tokens/s after the first (median)", speed["adapter"], "tok/s", speed["base"],
                        note=f"median reply {length['adapter']:.0f} tokens vs {length['base']:.0f} (a short reply's "
                             "rate carries more of the stream's fixed costs)"))
    release_memory()
    return rows
