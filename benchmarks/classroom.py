"""8. Classroom: a class chatting with the personas at once, on one 2-core machine.

All requests go through the app's own function (`models.inference.chat_streams`, what /chat and the
Persona chat tab call), spread round-robin over the base and the three shipped personas, with the
served settings (greedy, repetition penalty 1.1, at most 200 new tokens). The messages are what a
class types: factual questions with short answers mixed with open questions and small talk, whose
replies run longer. "One at a time" serves the same requests one after another through the same
engine (each alone in its steps); "all at once" starts them together from their own threads.

A round of simultaneous replies ends with its longest reply, so all at once can never beat
(sum of the solo times) / (longest solo time): the straggler cap. The throughput row reports all at
once vs one at a time as a fraction of that cap. Time to first text is when a reader gets its first
streamed text; time to end, when its reply is complete. The decoding rows time one engine step
(`models.engine.runner.run_step`) with every sequence decoding, its prompt already in the cache: with
the rows spread over the three personas and the base, against the same rows all on the bare base (the
adapters' own cost), and plain transformers (a padded batch with a `DynamicCache`, no adapters) as
the reference for what batching gives on this CPU. transformers' own continuous batching
(`generate_batch`, a paged cache; it has no per-request adapters) is timed on the same questions on
the bare base, next to ours on the bare base.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from statistics import median

import torch

from benchmarks.common import DATA, Goal, Row, like_a_server, percentile, release_memory

NAME = "classroom"
TITLE = "Classroom (many students at once: continuous batching across adapters)"
PERSONAS = (None, "chat-sarcastic", "chat-cheerful", "chat-professional")
OPEN_MESSAGES = [
    "Give me a tip for learning a new language.", "Tell me a joke.", "How do I make a good cup of tea?",
    "Can you explain what a LoRA adapter is in one sentence?", "I'm so hungry.", "What should I read next?",
    "Describe your perfect weekend.", "How can I focus better when I study?", "Write a short poem about the sea.",
    "Why is the sky blue?", "I have an exam tomorrow.", "What is a good way to start running?",
    "Explain photosynthesis to a child.", "Any advice for a job interview?", "What's your favourite season?",
    "How do computers store numbers?",
]
DECODE_ROWS = (1, 4, 8, 16, 32)


def messages(count: int) -> list[str]:
    """Factual questions (short answers) and open messages (longer ones), alternating."""
    factual = [json.loads(line)["question"] for line in (DATA / "chat/factual_test.jsonl").read_text().splitlines()]
    mixed = [message for pair in zip(factual, OPEN_MESSAGES) for message in pair]
    return mixed[:count]


@dataclass(frozen=True)
class Reply:
    first_s: float  # to the first streamed text
    end_s: float  # to the complete reply
    text: str


def ask(message: str, persona: str | None, owner: str) -> Reply:
    from models.inference import ChatTurn, chat_streams

    started, first, text = time.perf_counter(), None, ""
    for (piece,) in chat_streams([ChatTurn(message, None, persona)], owner=owner):
        if piece.ahead is None and piece.text and first is None:
            first = time.perf_counter() - started
        text = piece.text
    end = time.perf_counter() - started
    return Reply(first if first is not None else end, end, text)


def one_at_a_time(count: int, known: list[Reply] = ()) -> list[Reply]:
    """Each request alone, in order; `known`: the replies of the first ones, measured already."""
    return list(known) + [ask(message, PERSONAS[i % 4], f"student-{i}")
                          for i, message in enumerate(messages(count)) if i >= len(known)]


def all_at_once(count: int) -> tuple[float, list[Reply]]:
    """(wall seconds, replies): every student sends at the same moment from their own thread."""
    replies: list[Reply | None] = [None] * count
    start = threading.Barrier(count + 1)

    def student(i: int, message: str) -> None:
        start.wait()
        replies[i] = ask(message, PERSONAS[i % 4], f"student-{i}")

    threads = [threading.Thread(target=student, args=(i, m)) for i, m in enumerate(messages(count))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    failed = sum(reply is None for reply in replies)
    if failed:
        raise RuntimeError(f"{failed} of {count} simultaneous requests failed")
    return wall, [reply for reply in replies if reply is not None]


def round_rows(count: int, label: str, solo: list[Reply], wall: float, together: list[Reply],
               goals: bool = True) -> list[Row]:
    """Throughput against the straggler cap, slowdown against each request alone, first text and end."""
    solo_total = sum(reply.end_s for reply in solo)
    cap = solo_total / max(reply.end_s for reply in solo)
    speedup = solo_total / wall
    slowdowns = [t.end_s / s.end_s for t, s in zip(together, solo)]
    same = sum(t.text == s.text for t, s in zip(together, solo))
    first = [reply.first_s for reply in together]
    ends = [reply.end_s for reply in together]
    return [
        Row(NAME, f"{label}: throughput all at once vs one at a time, as a fraction of the straggler cap",
            speedup / cap, "of cap", None, Goal("ours", ">=", 0.7) if goals else None,
            f"{speedup:.2f}x faster ({wall:.1f} s vs {solo_total:.1f} s one at a time); cap {cap:.2f}x; "
            f"{same} of {count} replies the same as alone"),
        Row(NAME, f"{label}: each request's time vs alone, p95", percentile(slowdowns, 95), "x", None,
            Goal("ours", "<=", 3) if goals else None, f"p50 {percentile(slowdowns, 50):.2f}x"),
        Row(NAME, f"{label}: time to first text, p95", percentile(first, 95), "s",
            percentile([reply.first_s for reply in solo], 95), Goal("ours", "<=", 2.5) if goals else None,
            f"p50 {percentile(first, 50):.2f} s; baseline: the same requests alone"),
        Row(NAME, f"{label}: time to the end of the reply, p95", percentile(ends, 95), "s",
            percentile([reply.end_s for reply in solo], 95), None, f"p50 {percentile(ends, 50):.2f} s"),
    ]


def fresh_questions() -> None:
    """Forget the prompts the engine has read: each round asks its questions for the first time (what
    a class shares is the chat template's beginning, not whole questions)."""
    from models.inference import engine, resolve_target

    engine(resolve_target("chat").loaded).prefixes.clear()


def chat_round_rows(count: int, quick: bool, known: list[Reply] = ()) -> tuple[list[Row], list[Reply]]:
    """The round's rows, and the solo replies (a larger round reuses them: it asks the same first questions)."""
    fresh_questions()
    solo = one_at_a_time(count, known)
    fresh_questions()
    wall, together = all_at_once(count)
    return round_rows(count, f"{count} students chatting at once", solo, wall, together, goals=not quick), solo


def decode_rows(quick: bool) -> list[Row]:
    """Tokens/s of one engine step at 1 to 32 decoding sequences: over four adapters, all on the bare base."""
    from models.engine.runner import run_step
    from models.engine.scheduler import Chunk, GenerationRequest, Sequence
    from models.inference import resolve_target

    keys = [resolve_target("chat", persona).key for persona in PERSONAS]
    loaded = resolve_target("chat").loaded
    model = loaded.model

    def decoding(rows: int, mixed: bool) -> list[Sequence]:
        sequences = [Sequence(GenerationRequest(tuple(range(100, 160)), keys[i % 4] if mixed else None, 400))
                     for i in range(rows)]
        run_step(model, sorted([Chunk(s, s.request.prompt, True) for s in sequences],
                               key=lambda chunk: chunk.sequence.request.adapter or ""))
        return sequences

    def step_s(sequences: list[Sequence]) -> float:
        chunks = sorted([Chunk(s, (s.generated[-1],), True) for s in sequences],
                        key=lambda chunk: chunk.sequence.request.adapter or "")
        started = time.perf_counter()
        with loaded.lock:
            run_step(model, chunks)
        return time.perf_counter() - started

    speed: dict[tuple[int, bool], float] = {}
    for rows in (1, 16) if quick else DECODE_ROWS:
        mixed, bare = decoding(rows, True), decoding(rows, False)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(3 if quick else 7):  # interleaved: the two sides see the same machine
            times[True].append(step_s(mixed))
            times[False].append(step_s(bare))
        speed[rows, True], speed[rows, False] = (rows / median(times[side]) for side in (True, False))
    plain = plain_batch_speed(loaded, quick)
    rows = [Row(NAME, f"decoding, {n} sequences over 4 adapters vs all on the bare base", speed[n, True], "tok/s",
                speed[n, False], None, "one engine step, every sequence decoding")
            for n in sorted({n for n, _ in speed})]
    one = speed[1, True]
    return rows + [
        Row(NAME, "decoding: 16 sequences over 4 adapters vs one sequence with an adapter", speed[16, True], "tok/s",
            one, Goal("ratio", ">=", 6), f"bare base {speed[16, False] / speed[1, False]:.2f}x; plain transformers "
                                        f"(padded batch, no adapters) {plain[16] / plain[1]:.2f}x"),
        Row(NAME, "decoding: a step of 16 sequences over 4 adapters vs all on the bare base", 16 / speed[16, True] * 1000,
            "ms", 16 / speed[16, False] * 1000, Goal("ratio", "<=", 1.2), "the per-row adapters' cost"),
    ]


def plain_batch_speed(loaded, quick: bool) -> dict[int, float]:
    """Tokens/s of plain transformers decoding a padded batch with a DynamicCache, adapters off."""
    model = loaded.model
    speed = {}
    for rows in (1, 16):
        ids = torch.randint(100, 5000, (rows, 60))
        times = []
        with loaded.lock, torch.inference_mode(), (model.disable_adapter() if hasattr(model, "disable_adapter")
                                                   else nullcontext()):
            output = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            cache, token = output.cache, output.logits[:, -1].argmax(-1)[:, None]
            for step in range(4 if quick else 8):
                started = time.perf_counter()
                output = model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1,
                               position_ids=torch.full((rows, 1), 60 + step))
                token = output.logits[:, -1].argmax(-1)[:, None]
                times.append(time.perf_counter() - started)
        speed[rows] = rows / median(times)
    return speed


def single_stream_rows(quick: bool) -> list[Row]:
    """One user alone: the engine vs the path before it (`generate` streaming through transformers'
    TextIteratorStreamer in a thread), on the same questions, interleaved."""
    from transformers import TextIteratorStreamer

    from models.generation import chat_request
    from models.inference import resolve_target
    from models.mixed_lora import BASE, per_row_adapters

    target = resolve_target("chat", PERSONAS[1])
    loaded = target.loaded
    questions = messages(8)[::2][: 1 if quick else 4]

    def before(message: str) -> tuple[float, float]:
        request = chat_request(loaded.model, loaded.tokenizer, [{"role": "user", "content": message}], target.key,
                               loaded.spec.max_input_tokens)
        streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        ids = torch.tensor([request.prompt])

        def run() -> None:
            with loaded.lock, torch.inference_mode(), per_row_adapters(loaded.model, [target.key or BASE]):
                loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                                      do_sample=False, max_new_tokens=request.max_new_tokens,
                                      repetition_penalty=request.repetition_penalty)

        started = time.perf_counter()
        worker = threading.Thread(target=run)
        worker.start()
        first, text = None, ""
        for piece in streamer:
            first = first or (time.perf_counter() - started if piece else None)
            text += piece
        worker.join()
        return first or 0.0, rate(text, time.perf_counter() - started - (first or 0.0))

    def ours(message: str) -> tuple[float, float]:
        reply = ask(message, PERSONAS[1], "alone")
        return reply.first_s, rate(reply.text, reply.end_s - reply.first_s)

    def rate(text: str, seconds: float) -> float:
        return (len(loaded.tokenizer(text)["input_ids"]) - 1) / max(seconds, 1e-9)

    ours(questions[0]), before(questions[0])  # warm both paths
    like_a_server()
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "before": []}
    for question in questions:
        results["ours"].append(ours(question))
        results["before"].append(before(question))
    first = {side: median([f for f, _ in values]) for side, values in results.items()}
    speed = {side: median([s for _, s in values]) for side, values in results.items()}
    return [Row(NAME, "one user alone: tokens/s after the first, engine vs generate", speed["ours"], "tok/s",
                speed["before"], Goal("ratio", ">=", 1.0), f"median of {len(questions)} replies (sarcastic persona)"),
            Row(NAME, "one user alone: time to first text, engine vs generate", first["ours"] * 1000, "ms",
                first["before"] * 1000, Goal("ratio", "<=", 1.0), "")]


def training_rows(quick: bool) -> list[Row]:
    """8 students chat while a training job (a worker process, as the Train tab starts it) trains."""
    from finetune.config import make_config
    from finetune.data import load_examples
    from finetune.jobs import DONE, JobQueue
    from models.registry import DEFAULT_BASE

    count = 4 if quick else 8
    fresh_questions()
    quiet = all_at_once(count)[1]  # the same round without training, for reference
    data = load_examples(DATA.parent / "examples" / "sentiment_reviews.csv", "sentiment")
    config = make_config("sentiment", "quick", base=DEFAULT_BASE["sentiment"], max_steps=10 if quick else 30,
                         epochs=100)
    jobs = JobQueue()
    try:
        job = jobs.submit(config, data.records, "classroom-benchmark", None)
        deadline = time.monotonic() + 300
        while (state := jobs.get(job.id)).progress.status != "training" and state.active:
            if time.monotonic() > deadline:
                raise RuntimeError("the training job did not start")
            time.sleep(0.2)
        fresh_questions()
        wall, busy = all_at_once(count)
        finished = jobs.wait(job.id, 900)
    finally:
        jobs.close()
    first = [reply.first_s for reply in busy]
    return [Row(NAME, f"{count} students chatting while a training job runs: time to first text, p95",
                percentile(first, 95), "s", percentile([reply.first_s for reply in quiet], 95),
                Goal("ours", "<=", 4) if not quick else None,
                f"baseline: the same round with no job; round {wall:.1f} s; the job "
                + (f"finished its {finished.progress.step} steps" if finished.state == DONE
                   else f"did not finish ({finished.state})"))]


def generate_batch_row(quick: bool) -> Row:
    """transformers' continuous batching vs our engine, the same questions on the bare base (no adapters,
    no repetition penalty: what generate_batch serves)."""
    from transformers import GenerationConfig

    from models.engine import GenerationRequest
    from models.generation import eos_token_ids
    from models.inference import engine, resolve_target
    from models.loading import load_pretrained

    loaded = resolve_target("chat").loaded
    prompts = [loaded.tokenizer.apply_chat_template([{"role": "user", "content": m}], add_generation_prompt=True,
                                                    return_dict=True)["input_ids"] for m in messages(4 if quick else 8)]
    copy, _ = load_pretrained(loaded.spec)
    config = GenerationConfig(max_new_tokens=200, do_sample=False, eos_token_id=copy.generation_config.eos_token_id,
                              pad_token_id=loaded.tokenizer.pad_token_id)
    started = time.perf_counter()
    with torch.inference_mode():
        theirs = copy.generate_batch(inputs=prompts, generation_config=config)
    theirs_s = time.perf_counter() - started
    del copy
    stops = eos_token_ids(loaded.model)
    started = time.perf_counter()
    streams = engine(loaded).submit_all([GenerationRequest(tuple(p), None, 200, stops) for p in prompts])
    ours = [stream.tokens() for stream in streams]
    ours_s = time.perf_counter() - started
    same = sum(list(output.generated_tokens) == tokens for output, tokens in zip(theirs.values(), ours))
    return Row(NAME, f"{len(prompts)} questions on the bare base: our engine vs transformers' generate_batch",
               len(prompts) / ours_s, "req/s", len(prompts) / theirs_s, None,
               f"reference (no adapters there); {ours_s:.1f} s vs {theirs_s:.1f} s; {same} of {len(prompts)} "
               "replies the same")


def run(quick: bool) -> list[Row]:
    from models.inference import resolve_target

    for persona in PERSONAS:  # load the base and attach the personas, untimed
        resolve_target("chat", persona)
    ask(messages(1)[0], PERSONAS[1], "warm-up")
    like_a_server()
    rows = decode_rows(quick) + single_stream_rows(quick)
    sixteen, solo = chat_round_rows(4 if quick else 16, quick)
    rows += sixteen
    if not quick:
        rows += chat_round_rows(30, quick, solo)[0]
    rows += training_rows(quick) + [generate_batch_row(quick)]
    release_memory()
    return rows
