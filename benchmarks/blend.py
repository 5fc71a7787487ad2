"""11. Blend two personas: a new adapter from peft per weight, against weighting the two per token while serving.

The Persona chat's blend slider: a student picks a weight w, and the reply comes from (1 - w) of
chat-sarcastic's LoRA update plus w of chat-cheerful's, on the real chat base (SmolLM2-135M-Instruct).
- baseline, peft: `add_weighted_adapter([a, b], [1 - w, w], name, combination_type="cat")` (exact for
  LoRA: the ranks are concatenated, each adapter's weight and scaling folded into its A), one greedy
  reply through the engine with that adapter, and `delete_adapter`. That is the cost of every new
  weight, and building and deleting change the shared model under its lock: other users wait.
- ours: the same reply through the engine with a `mixed_lora.Blend`: nothing is built, each token gets
  both adapters' updates, weighted (`models.inference.resolve_blend`).
Each is the median of a few replies, with the engine's remembered prompts cleared before each one
(a student's new weight is a new adapter to both). Also measured: peft's build-and-delete alone (the
time the model is held), one persona's own reply (what blending adds per reply), and whether the two
ways give the same greedy tokens at w = 0.5.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from benchmarks.common import Goal, Row, median, release_memory, stopwatch
from models import inference, mixed_lora
from models.engine import GenerationRequest
from models.generation import chat_prompt_messages, chat_request

NAME = "blend"
TITLE = "Blend two personas (peft add_weighted_adapter vs per-token weighting)"
PERSONAS = ("chat-sarcastic", "chat-cheerful")
WEIGHT = 0.5
MESSAGE = "What do you think about Mondays?"
QUICK_TOKENS = 16  # --quick: short replies, one of each


def _request(loaded, adapter) -> GenerationRequest:
    limit = loaded.spec.max_input_tokens
    messages = chat_prompt_messages(loaded.tokenizer, MESSAGE, [], None, limit)
    return chat_request(loaded.model, loaded.tokenizer, messages, adapter, limit)


def _reply(loaded, request: GenerationRequest) -> list[int]:
    engine = inference.engine(loaded)
    engine.prefixes.clear()
    return engine.submit(request).tokens()


def _with_peft_blend(loaded, keys: tuple[str, str], weight: float, reply: Callable[[str], list[int]],
                     setup: list[float]) -> list[int]:
    """Build the blended adapter with peft, reply with it, delete it; the build and delete time into `setup`."""
    name = "peft_blend"
    with stopwatch() as elapsed, loaded.lock:
        loaded.model.add_weighted_adapter(list(keys), [1 - weight, weight], name, combination_type="cat")
        mixed_lora.forget_stacked(loaded.model)
    built = elapsed()
    tokens = reply(name)
    with stopwatch() as elapsed, loaded.lock:
        loaded.model.delete_adapter(name)
        mixed_lora.forget_stacked(loaded.model)
        inference.engine(loaded).prefixes.forget(name)
    setup.append(built + elapsed())
    return tokens


def run(quick: bool) -> list[Row]:
    repeat = 1 if quick else 3
    loaded, blended = inference.resolve_blend("chat", *PERSONAS, WEIGHT)
    keys = (blended.a, blended.b)
    base_request = _request(loaded, None)
    if quick:
        base_request = replace(base_request, max_new_tokens=QUICK_TOKENS)

    def reply(adapter) -> list[int]:
        return _reply(loaded, replace(base_request, adapter=adapter))

    reply(blended)  # warm-up: the stacked weights, the engine's thread
    ours, peft, setup, alone = [], [], [], []
    for _ in range(repeat):
        with stopwatch() as elapsed:
            our_tokens = reply(blended)
        ours.append(elapsed())
        with stopwatch() as elapsed:
            peft_tokens = _with_peft_blend(loaded, keys, WEIGHT, reply, setup)
        peft.append(elapsed())
        with stopwatch() as elapsed:
            reply(keys[0])
        alone.append(elapsed())
    same = next((i for i, (a, b) in enumerate(zip(our_tokens, peft_tokens)) if a != b),
                min(len(our_tokens), len(peft_tokens)))
    agree = same == len(our_tokens) == len(peft_tokens)
    release_memory()
    tokens = f"{len(our_tokens)} new tokens"
    return [
        Row(NAME, f"blended reply at w={WEIGHT} (per-token weighting vs peft build + reply + delete)", median(ours),
            "s", median(peft), Goal("ratio", "<=", 1.0), tokens),
        Row(NAME, "peft add_weighted_adapter + delete_adapter alone (the shared model held)", median(setup) * 1000,
            "ms", note="paid again for every new weight"),
        Row(NAME, "blended reply vs one persona's own reply (what blending adds)", median(ours), "s", median(alone),
            note=tokens),
        Row(NAME, f"greedy tokens the two ways share before they differ (w={WEIGHT})", same, "tokens",
            len(our_tokens), note="identical replies" if agree else "rounding: peft folds the weight into A"),
    ]
