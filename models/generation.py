"""From texts to model inputs and back, shared by serving (`models.inference`) and evaluation.

A causal model's translation, summary or chat reply is a `GenerationRequest` for the engine
(`models.engine`): the prompt the adapter was trained on (the bare base gets two worked examples
first), the user's text cut so that the instruction after it always fits, a cap on new tokens, and
what ends it (the model's end-of-sequence tokens; a translation or summary also ends at the end of
its line). Evaluation generates a whole batch with `Engine.generate_all`, serving streams each
request through the base's engine, and both decode the tokens the same way, so a metric measured
in training is what the app serves. Seq2seq (T5) bases use `generate`; sentiment is one forward pass.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

import torch
from peft import PeftModel
from transformers import StoppingCriteriaList, StopStringCriteria

from models.engine import Engine, GenerationRequest, use_ragged_attention
from models.mixed_lora import BASE, Blend, per_row_adapters
from models.tasks import get_task


def encode(tokenizer: Any, texts: list[str], limit: int, device: torch.device, **options: Any) -> dict[str, torch.Tensor]:
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=limit, **options)
    return {k: v.to(device) for k, v in batch.items()}


@contextmanager
def padding_side(tokenizer: Any, side: str) -> Iterator[None]:
    """Pad on `side` for one call: generation needs left padding, training right; the tokenizer is shared."""
    previous, tokenizer.padding_side = tokenizer.padding_side, side
    try:
        yield
    finally:
        tokenizer.padding_side = previous


def clip_text(tokenizer: Any, text: str, max_tokens: int) -> str:
    """The text cut to its first `max_tokens` tokens. Inputs are cut here, before they go into a
    prompt, so that a long text never pushes the prompt's instruction ("Spanish:") out of the window."""
    if len(text) <= max_tokens:  # a token is at least one character
        return text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= max_tokens else tokenizer.decode(ids[:max_tokens], skip_special_tokens=True)


def text_budget(tokenizer: Any, architecture: str, task: str, limit: int) -> int:
    """How many tokens of the user's text fit beside the few-shot prompt (the longer of the two)."""
    frame = get_task(task).generation_prompt("", architecture, few_shot=True)
    return max(16, limit - len(tokenizer(frame)["input_ids"]))


def chat_message_budget(limit: int) -> int:
    """Tokens one chat message may use: the rest of the window is kept for the template and a reply."""
    return max(32, limit // 2)


@lru_cache(maxsize=16)
def stop_at_newline(tokenizer: Any) -> StoppingCriteriaList:
    """Stop a causal row at the end of its line. Built once per tokenizer: building it scans and sorts
    the whole vocabulary, which `stop_strings=` redoes on every call."""
    return StoppingCriteriaList([StopStringCriteria(tokenizer, ["\n"])])


def eos_token_ids(model: Any) -> frozenset[int]:
    """The ids that end a sequence, from the model's generation config (an int, a list or None)."""
    eos = model.generation_config.eos_token_id
    return frozenset() if eos is None else frozenset({eos} if isinstance(eos, int) else eos)


def new_token_limit(task: str, tokenizer: Any, text: str) -> int:
    spec = get_task(task)
    return spec.new_token_limit(len(tokenizer(text)["input_ids"]) if spec.length_follows_input else 0)


def text_request(model: Any, tokenizer: Any, task: str, text: str, adapter: str | None, max_input_tokens: int,
                 few_shot: bool, owner: str | None = None) -> GenerationRequest:
    """A translation or summary for a causal model; `few_shot` for the bare base (an adapter, or a fully
    fine-tuned model, gets the zero-shot prompt it was trained on)."""
    text = clip_text(tokenizer, text, text_budget(tokenizer, "causal", task, max_input_tokens))
    prompt = get_task(task).generation_prompt(text, "causal", few_shot=few_shot)
    ids = tokenizer(prompt, truncation=True, max_length=max_input_tokens)["input_ids"]
    return GenerationRequest(tuple(ids), adapter, new_token_limit(task, tokenizer, text), eos_token_ids(model),
                             stop_at_newline(tokenizer), get_task(task).repetition_penalty, owner)


def chat_request(model: Any, tokenizer: Any, messages: list[dict[str, str]], adapter: str | Blend | None,
                 max_input_tokens: int, owner: str | None = None, max_new_tokens: int | None = None,
                 task: str = "chat") -> GenerationRequest:
    """A chat reply; the oldest turns are dropped (the system prompt kept) until the conversation fits."""
    spec = get_task(task)
    while True:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
        if len(ids) <= max_input_tokens or len(messages) <= 2:
            break
        messages = messages[:1] + messages[3:] if messages[0]["role"] == "system" else messages[2:]
    return GenerationRequest(tuple(ids[-max_input_tokens:]), adapter, max_new_tokens or spec.max_new_tokens,
                             eos_token_ids(model), repetition_penalty=spec.repetition_penalty, owner=owner)


def first_line(tokenizer: Any, tokens: list[int] | tuple[int, ...]) -> str:
    """A translation or summary as shown: its first line, without the token that ended it."""
    return tokenizer.decode(tokens, skip_special_tokens=True).strip().split("\n")[0].strip()


def engine_for_batch(model: Any) -> Engine:
    """An engine for a model outside the app's serving (a training run's copy): batches run in the caller's thread."""
    use_ragged_attention(model)
    return Engine(lambda: model, threading.RLock())


def _row_adapters(model: Any, rows: int, adapter_names: list[str] | None) -> list[str | None]:
    """Each row's adapter for the engine (None: the bare base). No names: the model as it is, that is
    its active adapter when it has one (an evaluation right after training it)."""
    if adapter_names is None:
        active = model.active_adapter if isinstance(model, PeftModel) else None
        return [active] * rows
    return [None if name == BASE else name for name in adapter_names]


def generate_texts(model: Any, tokenizer: Any, architecture: str, task: str, texts: list[str],
                   bare_base: list[bool], adapter_names: list[str] | None = None, max_input_tokens: int = 512) -> list[str]:
    """Greedy translations or summaries for a batch; rows may use different adapters (or BASE)."""
    if architecture == "causal":
        adapters = _row_adapters(model, len(texts), adapter_names)
        requests = [text_request(model, tokenizer, task, text, adapter, max_input_tokens, few_shot=bare)
                    for text, adapter, bare in zip(texts, adapters, bare_base)]
        return [first_line(tokenizer, tokens) for tokens in engine_for_batch(model).generate_all(requests)]
    budget = text_budget(tokenizer, architecture, task, max_input_tokens)
    texts = [clip_text(tokenizer, text, budget) for text in texts]
    prompts = [get_task(task).generation_prompt(text, architecture, few_shot=False) for text in texts]
    with padding_side(tokenizer, "left"):
        inputs = encode(tokenizer, prompts, max_input_tokens, model.device)
    limits = [new_token_limit(task, tokenizer, text) for text in texts]
    with torch.inference_mode(), per_row_adapters(model, adapter_names):
        output = model.generate(**inputs, max_new_tokens=max(limits), do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
    # Each row is cut at its own cap, so a short text batched with a long one reads exactly as alone;
    # the output opens with the decoder's start token.
    return [first_line(tokenizer, row[1:1 + limit]) for row, limit in zip(output, limits)]


def chat_replies(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]],
                 adapter_names: list[str] | None = None, max_new_tokens: int | None = None,
                 max_input_tokens: int = 1024) -> list[tuple[str, bool]]:
    """Replies to a batch of conversations (rows may use different adapters), and whether each
    one ended with an end-of-sequence token rather than running into the length cap."""
    adapters = _row_adapters(model, len(conversations), adapter_names)
    requests = [chat_request(model, tokenizer, conversation, adapter, max_input_tokens, max_new_tokens=max_new_tokens)
                for conversation, adapter in zip(conversations, adapters)]
    stops = eos_token_ids(model)
    return [(tokenizer.decode(tokens, skip_special_tokens=True).strip(), bool(tokens) and tokens[-1] in stops)
            for tokens in engine_for_batch(model).generate_all(requests)]


def class_probabilities(model: Any, tokenizer: Any, texts: list[str], labels: list[str], bare_base: bool,
                            adapter_names: list[str] | None = None, max_input_tokens: int = 256) -> list[dict[str, float]]:
    """Class probabilities. A trained head gives them directly. The bare encoder has no trained head,
    so it answers zero-shot: cosine similarity of each text to one sentence per label."""
    if bare_base:
        adapter_names = [BASE] * (len(texts) + len(labels))  # the base alone, whatever adapter is active
    with torch.inference_mode(), per_row_adapters(model, adapter_names):
        if not bare_base:
            inputs = encode(tokenizer, texts, max_input_tokens, model.device)
            probabilities = model(**inputs).logits.softmax(-1)
        else:
            prototypes = [f"This is {label}." for label in labels]
            inputs = encode(tokenizer, texts + prototypes, max_input_tokens, model.device)
            output = model(**inputs, output_hidden_states=True)
            mask = inputs["attention_mask"].unsqueeze(-1).float()
            embeddings = (output.hidden_states[-1] * mask).sum(1) / mask.sum(1)
            similarity = torch.nn.functional.cosine_similarity(
                embeddings[: len(texts), None], embeddings[None, len(texts):], dim=-1)
            probabilities = (similarity * 20).softmax(-1)  # MiniLM similarities are close together: sharpen
    return [{label: float(p) for label, p in zip(labels, row)} for row in probabilities]


def chat_prompt_messages(tokenizer: Any, message: str, history: list[dict[str, str]], system: str | None,
                         max_input_tokens: int) -> list[dict[str, str]]:
    """The conversation to answer, as OpenAI-style messages: an optional system prompt, the latest turns of
    the history (every message takes at least one token, so no more than `max_input_tokens` of them can
    fit), and the new message cut to its budget."""
    message = clip_text(tokenizer, message, chat_message_budget(max_input_tokens))
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": m["role"], "content": m["content"]} for m in history[-max_input_tokens:] if m.get("content")]
    return messages + [{"role": "user", "content": message}]
