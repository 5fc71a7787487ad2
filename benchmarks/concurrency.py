"""4. Concurrency: 8 simultaneous requests, each with its own adapter on the same base.

Ours: 8 threads call the app's function (`translate`, `classify_sentiment`) at the same moment;
translations join the gemma engine's steps as they arrive (`models.engine`: continuous batching,
each sequence through its own adapter, leaving as soon as it ends), reviews are micro-batched
(`models.batching`, a 10 ms window), each row through its own adapter (`models.mixed_lora`).
Baseline: the same 8 requests served one at a time by one server thread, each alone in the model
(a lock per model, no batching). Both run their model calls off the main thread, as a server does. The 8
adapters are copies of the shipped one with LoRA B scaled by 1.00, 0.98, ..., 0.86: different
adapters, same quality. Throughput = requests / wall time, each side's best of several rounds
(translation 3, sentiment 15); the note says whether both sides gave the same answers (for
sentiment: the same labels, and how far the probabilities moved).

Sentiment gains less than translation. A translation's decoding steps read the whole model for
one token per row, which a batch of 8 shares; a 30-word review alone is already a 40-row matrix
product, and 8 of them keep both cores busy: the bare-body row measures the most batching can give
on this CPU, before the adapters and the batcher's 10 ms window.
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median
from typing import Any, Callable

import torch

from benchmarks.common import (Goal, Row, adapter_variant, like_a_server, release_memory, shipped_adapter, stopwatch,
                               texts_of_words, timings)
from models import inference
from models.generation import encode, first_line, text_request
from models.cpu_fastpath.bf16 import Bf16MatmulLinear

NAME = "concurrency"
TITLE = "Concurrency (8 requests, 8 adapters, one base)"
REQUESTS = 8



def _translations(loaded: Any, rows: list[tuple[str, str | None]]) -> list[str]:
    """(text, adapter key) rows translated together in this thread, in the engine's steps."""
    requests = [text_request(loaded.model, loaded.tokenizer, "translation", text, key, loaded.spec.max_input_tokens,
                             few_shot=key is None) for text, key in rows]
    return [first_line(loaded.tokenizer, tokens) for tokens in inference.engine(loaded).generate_all(requests)]


# task -> (shipped adapter, the app's function, one batch without a line, data file, field, words, rounds)
CASES = {
    "translation": ("translation-en-es", inference.translate, _translations,
                    "translation/test.jsonl", "source", 15, {True: 1, False: 3}),
    "sentiment": ("sentiment-movies", inference.classify_sentiment, inference._classified_rows,
                  "sentiment/test.jsonl", "text", 30, {True: 3, False: 15}),
}


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment from its own thread; results in call order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _best(call: Callable[[], list[Any]], rounds: int) -> tuple[float, list[Any]]:
    best, answers = float("inf"), []
    for _ in range(rounds):
        with stopwatch() as elapsed:
            answers = call()
        best = min(best, elapsed())
    return best, answers


def _agreement(together: list[Any], alone: list[Any]) -> str:
    """Whether batching changed the answers. Class probabilities are compared by label and by their
    largest difference: padding and batch shape change the matrix kernels, and with bf16 matmuls the
    rounding moves probabilities by up to about 1e-3 (as much as two neighbouring test adapters differ);
    a greedy translation may then read a word differently, so texts are counted."""
    if together and isinstance(together[0], dict):
        labels = all(max(a, key=a.get) == max(b, key=b.get) for a, b in zip(together, alone))
        largest = max(abs(a[k] - b[k]) for a, b in zip(together, alone) for k in a)
        return f"same labels: {'yes' if labels else 'NO'}, probabilities within {largest:.1e}"
    same = sum(a == b for a, b in zip(together, alone))
    return f"same answers: {'yes' if same == len(alone) else f'{same} of {len(alone)}'}"


def _last_round(sizes: list[int]) -> list[int]:
    """The batch sizes that served the last REQUESTS requests."""
    taken: list[int] = []
    while sizes and sum(taken) < REQUESTS:
        taken.insert(0, sizes.pop())
    return taken


def _case(task: str, quick: bool, scratch: Path) -> list[Row]:
    adapter, call, one_batch, data, field, words, rounds = CASES[task]
    source = shipped_adapter(adapter)
    if source is None:
        return []
    folders = [str(adapter_variant(source, scratch / f"{adapter}-{i}", 1 - 0.02 * i)) for i in range(REQUESTS)]
    texts = texts_of_words(data, field, words, REQUESTS)
    targets = [inference.resolve_target(task, folder) for folder in folders]  # load and attach, untimed
    loaded = targets[0].loaded
    call(texts[0], adapter=folders[0])
    like_a_server()

    def one_at_a_time() -> list[Any]:  # in a thread, as a server's request thread would
        with ThreadPoolExecutor(1) as server:
            return server.submit(lambda: [one_batch(loaded, [(text, target.key)])[0]
                                          for text, target in zip(texts, targets)]).result()

    alone_s, alone = _best(one_at_a_time, rounds[quick])
    together_s, together = _best(lambda: _together([lambda t=text, f=folder: call(t, adapter=f)
                                                     for text, folder in zip(texts, folders)]), rounds[quick])
    sizes = (f"steps: up to {max(loaded.engine.step_sizes)} sequences at once" if task == "translation"
             else f"batches (last round): {_last_round(list(loaded.batchers['classify'].batch_sizes))}")
    rows = [Row(NAME, f"{task}: requests/s, 8 adapters at once vs one at a time", REQUESTS / together_s, "req/s",
                REQUESTS / alone_s, Goal("ratio", ">=", 3) if task == "translation" else None,
                f"{sizes}; {_agreement(together, alone)}")]
    if task == "translation":
        rows += _head_rows(loaded.model.get_output_embeddings().weight, quick)
    if layers := [m for m in loaded.model.modules() if isinstance(m, Bf16MatmulLinear)]:
        batch = [(text, target.key) for text, target in zip(texts, targets)]
        rows.append(_body_row(task, lambda: one_batch(loaded, batch), layers, rounds[quick]))
    if task == "sentiment":
        rows += _bare_body_rows(loaded, texts, rounds[quick])
    return rows


def _body_row(task: str, one_batch: Callable[[], Any], layers: list[Bf16MatmulLinear], rounds: int) -> Row:
    """The 8 rows in one batch with the body multiplying in bf16, as served on CPUs with bf16 units
    (`models.cpu_fastpath.bf16.use_bf16_body_matmuls`), vs the same batch in fp32: the `layers` are put back to
    plain `nn.Linear` (their fp32 weights never left) for the fp32 timings."""
    unit, scale = ("s", 1) if task == "translation" else ("ms", 1000)

    def use(layer_class: type) -> None:
        for layer in layers:
            layer.__class__ = layer_class

    def batch_time(layer_class: type) -> float:
        use(layer_class)
        return scale * min(timings(one_batch, rounds))

    try:
        served, fp32 = batch_time(Bf16MatmulLinear), batch_time(torch.nn.Linear)
    finally:
        use(Bf16MatmulLinear)
    return Row(NAME, f"{task}: one batch of {REQUESTS}, as served (body in bf16) vs fp32", served, unit, fp32, None,
               f"diagnostic: {REQUESTS} rows make the body's matmuls compute-bound, where bf16 units multiply "
               "several times faster")


def _bare_body_rows(loaded: Any, texts: list[str], rounds: int) -> list[Row]:
    """The bare MiniLM body (no adapters, no batcher) on the same reviews: in one batch vs one at a time,
    the most batching can give on this CPU; and what `torch.compile` (inductor) would give, measured
    rather than assumed, compiled for that one input shape."""
    def inputs(rows: list[str]) -> dict[str, torch.Tensor]:
        return encode(loaded.tokenizer, rows, loaded.spec.max_input_tokens, loaded.model.device)

    together, alone = inputs(texts), [inputs([text]) for text in texts]
    body = loaded.model.get_base_model()
    with loaded.lock, torch.inference_mode(), loaded.model.disable_adapter():
        eager_ms = 1000 * min(timings(lambda: body(**together), rounds))
        alone_ms = 1000 * min(timings(lambda: [body(**inputs) for inputs in alone], rounds))
        with stopwatch() as elapsed:
            compiled = torch.compile(body, dynamic=False)
            compiled(**together)
        compile_s = elapsed()
        compiled_ms = 1000 * min(timings(lambda: compiled(**together), rounds))
    torch._dynamo.reset()
    return [Row(NAME, f"sentiment: bare body, {REQUESTS} reviews in one batch vs one at a time", eager_ms, "ms",
                alone_ms, None, "diagnostic: the ceiling of batching here; a 30-word review alone is already a "
                                "40-row matrix product, and 8 of them keep both cores busy"),
            Row(NAME, f"sentiment: one batch of {REQUESTS}, bare body: torch.compile vs as served", compiled_ms, "ms",
                eager_ms, None, f"what-if, not used by the app: compiling took {compile_s:.0f} s for this one input "
                                "shape, and every new length or batch size compiles again")]


def _head_rows(served: torch.Tensor, quick: bool) -> list[Row]:
    """Why batched decoding gains less than the rows it adds: the LM head's matmul (gemma: 262k x 640,
    671 MB in fp32) for 8 rows costs several times the 1-row one in fp32 on this CPU, though it reads the
    same weights (the BLAS repacks the weight for a matrix product, not for a matrix-vector one). The app
    keeps the head in bf16 where the CPU multiplies bf16 in hardware (`models.cpu_fastpath.bf16.use_bf16_output_head`)."""
    def head_ms(weight: torch.Tensor, rows: int) -> float:
        hidden = torch.randn(rows, weight.shape[1], dtype=weight.dtype)
        with torch.inference_mode():
            return 1000 * median(timings(lambda: torch.nn.functional.linear(hidden, weight), 3 if quick else 7))

    fp32 = served.float()
    shape = f"({served.shape[0]:,} x {served.shape[1]})"
    rows = [Row(NAME, f"LM head matmul {shape} in fp32, {REQUESTS} rows vs 1 row", head_ms(fp32, REQUESTS), "ms",
                head_ms(fp32, 1), None, "diagnostic: one decoding step's largest matmul; 8 rows cost 8x at worst, "
                                        "1x if memory-bound")]
    if served.dtype != torch.float32:
        rows.append(Row(NAME, f"LM head matmul {shape}, {REQUESTS} rows: as served ({str(served.dtype)[6:]}) vs fp32",
                        head_ms(served, REQUESTS), "ms", rows[0].ours, None,
                        "the served head is bf16 because this CPU multiplies bf16 in hardware"))
    return rows


def run(quick: bool) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for task in CASES:
            rows += _case(task, quick, Path(scratch))
            release_memory()
    return rows
