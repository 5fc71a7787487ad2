"""Greedy decoding where finished rows leave the batch: the tokens `generate` gives, fewer rows computed.

Tiny random fp32 models: no argmax is close enough to a tie for a batch's shape to flip it, so
token lists compare exactly (as in test_batching).
"""

from __future__ import annotations

import pytest
import torch

from models.decoding import greedy_rows
from models.inference import BASE, _stop_at_newline, attach, padding_side, resolve_target
from models.loading import load_base

PROMPTS = ["Where is the train station?", "Hi.", "The weather is nice today, and we are going to the beach."]


@pytest.fixture(autouse=True)
def _fresh(fresh_models):
    yield


def _encode(tokenizer, prompts):
    with padding_side(tokenizer, "left"):
        return tokenizer(prompts, return_tensors="pt", padding=True)


def _alone(model, tokenizer, prompt, limit, **kwargs):
    """What `generate` gives this prompt on its own: it stops at the row's end, so no padding follows."""
    inputs = _encode(tokenizer, [prompt])
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=limit, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                stopping_criteria=_stop_at_newline(tokenizer), **kwargs)
    return output[0, inputs["input_ids"].shape[1]:].tolist()


def _batch_sizes(model):
    sizes = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: sizes.append(len(kwargs["input_ids"])),
                                             with_kwargs=True)
    return sizes, handle


@pytest.mark.parametrize("base", ["tiny-llama", "tiny-gemma3"])
def test_rows_get_the_tokens_generate_gives_them_and_leave_when_done(tiny_models, base):
    loaded = load_base(base)
    model, tokenizer = loaded.model, loaded.tokenizer
    limits = [2, 5, 3]
    inputs = _encode(tokenizer, PROMPTS)
    sizes, handle = _batch_sizes(model)
    with torch.inference_mode():
        rows = greedy_rows(model, inputs["input_ids"], inputs["attention_mask"], limits,
                           stopping=_stop_at_newline(tokenizer))
    handle.remove()
    assert [len(row) for row in rows] == limits  # random weights: no end-of-sequence or newline before the caps
    assert rows == [_alone(model, tokenizer, prompt, limit) for prompt, limit in zip(PROMPTS, limits)]
    assert sizes == [3, 3, 2, 1, 1]  # prefill, then row 0 leaves after 2 tokens, row 2 after 3


def test_a_row_ends_at_the_end_of_sequence_token(tiny_models):
    loaded = load_base("tiny-llama")
    model, tokenizer = loaded.model, loaded.tokenizer
    inputs = _encode(tokenizer, PROMPTS[:2])
    with torch.inference_mode():
        free = greedy_rows(model, inputs["input_ids"], inputs["attention_mask"], [6, 6])
    stop_token, original = free[0][-1], model.generation_config.eos_token_id
    model.generation_config.eos_token_id = stop_token  # a token row 0 produces becomes the end of sequence
    try:
        with torch.inference_mode():
            rows = greedy_rows(model, inputs["input_ids"], inputs["attention_mask"], [6, 6])
    finally:
        model.generation_config.eos_token_id = original
    for row, unstopped in zip(rows, free):
        cut = unstopped.index(stop_token) + 1 if stop_token in unstopped else len(unstopped)
        assert row == unstopped[:cut]


def test_per_row_adapters_follow_their_rows_as_others_leave(tiny_adapters):
    loaded = load_base("tiny-llama")
    keys = [attach(loaded, resolve_target("translation", str(tiny_adapters[name])).info)
            for name in ("llama-translation-a", "llama-translation-b")]
    model, tokenizer = loaded.model, loaded.tokenizer
    names, limits = [keys[0], BASE, keys[1]], [2, 4, 6]
    inputs = _encode(tokenizer, PROMPTS)
    with torch.inference_mode():
        rows = greedy_rows(model, inputs["input_ids"], inputs["attention_mask"], limits, names,
                           _stop_at_newline(tokenizer))
    alone = [_alone(model, tokenizer, prompt, limit, adapter_names=[name])
             for prompt, limit, name in zip(PROMPTS, limits, names)]
    assert rows == alone
    assert names == [keys[0], BASE, keys[1]]  # the caller's list is left as it was
    with torch.inference_mode():  # and the adapters really differ on these prompts
        swapped = greedy_rows(model, inputs["input_ids"], inputs["attention_mask"], limits,
                              [keys[1], BASE, keys[0]], _stop_at_newline(tokenizer))
    assert swapped[2] != rows[2]
