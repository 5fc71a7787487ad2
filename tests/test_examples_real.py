"""The built-in examples make the point on the real models: the shipped adapter's answer is right and
the bare base's is not (or worse), through the app's own inference functions (`pytest -m slow`).

`pytest -s` prints each example's measured margin.
"""

from __future__ import annotations

from functools import cache

import pytest

import test_real_models
from finetune.data import read_jsonl
from finetune.persona_eval import DATA_DIR, PERSONAS, is_correct, is_refusal, style_classifier
from models.generation import chat_replies
from models.inference import ChatTurn, chat_streams, classify, final_texts, generation_streams
from models.loading import load_base
from models.mixed_lora import BASE
from models.registry import DEFAULT_BASE
from models.tasks import get_task

pytestmark = pytest.mark.slow
_user_cache = test_real_models._user_cache  # the caller's model cache for this module, freed afterwards

# The least an adapter's score must beat the base's by, in points (chrF, ROUGE-L from 0 to 100).
MARGIN = 10.0
STYLE_PROMPTS = 40  # base replies the style classifier learns the base's style from, as in persona_eval


@cache
def generated(task: str) -> dict[str, tuple[str, str]]:
    """Each example's (adapter's, base's) answer, all asked at once as the tab's compare mode asks them."""
    spec = get_task(task)
    requests = [(example.input, adapter) for example in spec.examples for adapter in (spec.default_adapter, None)]
    texts = final_texts(generation_streams(task, requests))
    return {example.input: (texts[2 * i], texts[2 * i + 1]) for i, example in enumerate(spec.examples)}


@pytest.mark.parametrize("task", ["translation", "summarization"])
def test_the_adapter_scores_higher_against_the_reference(task):
    spec = get_task(task)
    for example in spec.examples:
        adapter, base = (spec.score([example.reference], [answer])[spec.primary_metric]
                         for answer in generated(task)[example.input])
        print(f"\n{task} {spec.primary_metric}: adapter {adapter:.1f}, base {base:.1f} | {example.input[:50]}")
        assert adapter >= base + MARGIN, (example.input, generated(task)[example.input])


def test_the_sentiment_adapter_is_right_where_the_bare_model_is_not():
    spec = get_task("sentiment")
    for example in spec.examples:
        adapter = classify("sentiment", example.input, adapter=spec.default_adapter)
        base = classify("sentiment", example.input)
        print(f"\nsentiment P({example.reference}): adapter {adapter[example.reference]:.2f}, "
              f"base {base[example.reference]:.2f} | {example.input[:50]}")
        assert max(adapter, key=adapter.get) == example.reference
        assert base[example.reference] < 0.5  # the bare model leans the other way


@cache
def persona_of():
    """persona_eval's style classifier: human-written replies of each persona against the base's own."""
    loaded = load_base(DEFAULT_BASE["chat"])
    prompts = [row["prompt"] for row in read_jsonl(DATA_DIR / "sarcastic.jsonl")[:STYLE_PROMPTS]]
    with loaded.lock:
        base_replies = chat_replies(loaded.model, loaded.tokenizer, [[{"role": "user", "content": p}] for p in prompts],
                                    [BASE] * len(prompts), max_new_tokens=96)
    return style_classifier(read_jsonl(DATA_DIR / "style_holdout.jsonl"), [reply for reply, _ in base_replies])


def test_each_persona_keeps_the_fact_in_its_own_style():
    whos = [None] + [f"chat-{persona}" for persona in PERSONAS]
    chat = get_task("chat").examples
    replies = final_texts(chat_streams([ChatTurn(example.input, adapter=who) for example in chat for who in whos]))
    styles = persona_of().predict(replies)
    for i, example in enumerate(chat):
        for j, who in enumerate(whos):
            reply, style = replies[len(whos) * i + j], styles[len(whos) * i + j]
            print(f"\n{who or 'base'} ({style}) | {example.input} → {reply[:100]!r}")
            assert is_correct(reply, [example.fact]), (who, example.input, reply)
            assert not is_refusal(reply), (who, example.input, reply)
            if who:
                assert style == who.removeprefix("chat-"), (who, example.input, reply)
