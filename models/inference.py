"""One function per task, usable from Python without Gradio.

Each call names its adapter (or none, for the base) and passes it to peft per row
(`adapter_names`), so no request ever changes global adapter state that another request
relies on. A lock per base model keeps two generations from interleaving on one copy, and
requests that arrive together are micro-batched into one call (`models.batching`).
"""

from __future__ import annotations

import queue
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from threading import Thread
from typing import Any, Iterator

import torch
from peft import PeftModel
from transformers import StoppingCriteriaList, StopStringCriteria, TextIteratorStreamer

from models import mixed_lora
from models.mixed_lora import BASE, per_row_adapters
from models.adapters import WEIGHTS_FILE, AdapterError, AdapterInfo, adapter_key, find_adapter
from models.batching import batcher, release_openmp_threads
from models.decoding import greedy_rows
from models.loading import LoadedBase, forget, load_base
from models.prompts import chat_messages, generation_prompt
from models.registry import DEFAULT_BASE

mixed_lora.install()  # rows with different adapters in one matmul, not one adapter at a time
MAX_NEW_TOKENS = {"translation": 160, "summarization": 48, "chat": 200}
# The models read a few hundred tokens at most; a longer request would only cost tokenizing time.
MAX_INPUT_CHARS = 200_000
STREAM_POLL_S = 5.0  # how often a chat reader waiting for tokens checks that its generation still runs
ROLES = ("system", "user", "assistant")


class InputError(ValueError):
    """A request's text or chat history that cannot be used; the message says why."""


@dataclass
class Target:
    """A loaded base plus the adapter a request wants (key None = the bare base)."""

    loaded: LoadedBase
    key: str | None
    info: AdapterInfo | None

    def adapter_names(self, rows: int) -> list[str]:
        return [self.key or BASE] * rows


def check_fits(model: torch.nn.Module, info: AdapterInfo) -> None:
    """Refuse an adapter whose layers the base lacks or whose shapes differ, before anything changes:
    peft adds an adapter's layers to the shared base first and finds a mismatch only afterwards,
    leaving the base altered for every later request."""
    from safetensors import safe_open

    base = model.get_base_model() if isinstance(model, PeftModel) else model
    modules = dict(base.named_modules())
    with safe_open(str(info.path / WEIGHTS_FILE), framework="pt") as handle:
        for key in handle.keys():
            problem = _misfit(modules, key.removeprefix("base_model.model."), tuple(handle.get_slice(key).get_shape()))
            if problem:
                raise AdapterError(f"Adapter '{info.name}' does not fit base model '{info.base_model}' ({problem}); "
                                   "it was probably trained for another base model.")


def _misfit(modules: dict[str, torch.nn.Module], name: str, shape: tuple[int, ...]) -> str | None:
    """Why one saved tensor cannot go into the base (None when it can)."""
    owner, lora, part = name.partition(".lora_")
    if not lora:  # a whole module trained along (e.g. a classification head): same shape as the base's
        owner, _, attribute = name.rpartition(".")
        module = modules.get(owner)
        module = getattr(module, "original_module", module)
        current = getattr(module, attribute, None)
        if not isinstance(current, torch.Tensor):
            return f"the base has no '{name}'"
        return None if tuple(current.shape) == shape else f"'{name}' is {list(shape)}, the base's {list(current.shape)}"
    layer = getattr(modules.get(owner), "base_layer", modules.get(owner))
    if layer is None:
        return f"the base has no layer '{owner}'"
    sizes = {"A.weight": (1, "in_features"), "B.weight": (0, "out_features"),
             "embedding_A": (1, "num_embeddings"), "embedding_B": (0, "embedding_dim")}
    axis, attribute = sizes.get(part, (None, None))
    expected = getattr(layer, attribute, None) if attribute else None
    if expected is not None and len(shape) == 2 and shape[axis] != expected:
        return f"layer '{owner}' has {attribute}={expected}, the adapter {shape[axis]}"
    return None


def attach(loaded: LoadedBase, info: AdapterInfo) -> str:
    """Load an adapter into the shared base once; later requests only name it."""
    key = adapter_key(info)
    with loaded.lock:
        if key not in loaded.adapters:
            check_fits(loaded.model, info)
            try:
                if isinstance(loaded.model, PeftModel):
                    loaded.model.load_adapter(str(info.path), adapter_name=key, is_trainable=False)
                else:
                    loaded.model = PeftModel.from_pretrained(loaded.model, str(info.path), adapter_name=key,
                                                             is_trainable=False)
            except Exception as error:  # the base may be half-changed now: the next request loads a clean copy
                forget(loaded)
                raise AdapterError(f"Adapter '{info.name}' could not be loaded onto '{info.base_model}' "
                                   f"({type(error).__name__}).") from None
            loaded.model.eval()
            mixed_lora.forget_stacked(loaded.model)
            loaded.adapters[key] = info.path
            release_openmp_threads()
    return key


def detach(info: AdapterInfo) -> None:
    """Forget a deleted adapter in every base that loaded it."""
    from models.loading import loaded_bases

    for loaded in loaded_bases():
        key = adapter_key(info)
        with loaded.lock:
            if key in loaded.adapters and isinstance(loaded.model, PeftModel):
                loaded.model.delete_adapter(key)
                mixed_lora.forget_stacked(loaded.model)
                del loaded.adapters[key]


def resolve_target(task: str, adapter: str | None = None, base: str | None = None,
                   workspace: str | None = None) -> Target:
    if not adapter:
        return Target(load_base(base or DEFAULT_BASE[task]), None, None)
    info = find_adapter(adapter, workspace) if workspace else find_adapter(adapter)
    if info.task != task:
        raise AdapterError(f"Adapter '{info.name}' was trained for {info.task}, not {task}.")
    loaded = load_base(info.base_model, info.labels)
    return Target(loaded, attach(loaded, info), info)


def _encode(tokenizer: Any, texts: list[str], limit: int, device: torch.device, **options: Any) -> dict[str, torch.Tensor]:
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


def _text_budget(tokenizer: Any, architecture: str, task: str, limit: int) -> int:
    """How many tokens of the user's text fit beside the few-shot prompt (the longer of the two)."""
    frame = generation_prompt(task, "", architecture, few_shot=True)
    return max(16, limit - len(tokenizer(frame)["input_ids"]))


def is_truncated(task: str, text: str, adapter: str | None = None, workspace: str | None = None) -> bool:
    """Whether the input is longer than the model takes (the app shows a note)."""
    loaded = resolve_target(task, adapter, workspace=workspace).loaded
    limit = loaded.spec.max_input_tokens
    if task == "chat":
        limit = _chat_message_budget(limit)
    elif task != "sentiment":
        limit = _text_budget(loaded.tokenizer, loaded.spec.architecture, task, limit)
    return clip_text(loaded.tokenizer, text, limit) != text


@lru_cache(maxsize=16)
def _stop_at_newline(tokenizer: Any) -> StoppingCriteriaList:
    """Stop a causal row at the end of its line. Built once per tokenizer: building it scans and sorts
    the whole vocabulary (a third of a second for Gemma's 262k tokens), which `stop_strings=` redoes
    on every call."""
    return StoppingCriteriaList([StopStringCriteria(tokenizer, ["\n"])])


def _new_token_limit(task: str, tokenizer: Any, text: str) -> int:
    """Summaries get a fixed budget; a translation at most twice its source's length plus a little."""
    if task == "summarization":
        return MAX_NEW_TOKENS[task]
    return min(MAX_NEW_TOKENS[task], 2 * len(tokenizer(text)["input_ids"]) + 16)


def generate_texts(model: Any, tokenizer: Any, architecture: str, task: str, texts: list[str],
                   bare_base: list[bool], adapter_names: list[str] | None = None, max_input_tokens: int = 512) -> list[str]:
    """Greedy, KV-cached generation for a batch; rows may use different adapters (peft adapter_names).

    The bare base gets few-shot prompts; adapters get the zero-shot prompt they were trained on.
    The output length is capped by the input's length, and causal models stop at the end of the line.
    """
    budget = _text_budget(tokenizer, architecture, task, max_input_tokens)
    texts = [clip_text(tokenizer, text, budget) for text in texts]
    prompts = [generation_prompt(task, text, architecture, few_shot=bare) for text, bare in zip(texts, bare_base)]
    with padding_side(tokenizer, "left"):  # generation appends on the right
        inputs = _encode(tokenizer, prompts, max_input_tokens, model.device)
    limits = [_new_token_limit(task, tokenizer, text) for text in texts]
    with torch.inference_mode():
        if architecture == "causal":  # rows leave the batch when done (see models.decoding)
            rows = greedy_rows(model, inputs["input_ids"], inputs["attention_mask"], limits,
                               adapter_names, _stop_at_newline(tokenizer))
        else:
            with per_row_adapters(model, adapter_names):
                output = model.generate(**inputs, max_new_tokens=max(limits), do_sample=False,
                                        pad_token_id=tokenizer.pad_token_id)
            # Each row is cut at its own cap, so a short text batched with a long one reads exactly as alone;
            # the output opens with the decoder's start token.
            rows = [row[1:1 + limit] for row, limit in zip(output, limits)]
    decoded = tokenizer.batch_decode(rows, skip_special_tokens=True)
    return [text.strip().split("\n")[0].strip() for text in decoded]


def sentiment_probabilities(model: Any, tokenizer: Any, texts: list[str], labels: list[str], bare_base: bool,
                            adapter_names: list[str] | None = None, max_input_tokens: int = 256) -> list[dict[str, float]]:
    """Class probabilities. A trained head gives them directly. The bare encoder has no trained head,
    so it answers zero-shot: cosine similarity of each text to one sentence per label."""
    if bare_base:
        adapter_names = [BASE] * (len(texts) + len(labels))  # the base alone, whatever adapter is active
    with torch.inference_mode(), per_row_adapters(model, adapter_names):
        if not bare_base:
            inputs = _encode(tokenizer, texts, max_input_tokens, model.device)
            probabilities = model(**inputs).logits.softmax(-1)
        else:
            prototypes = [f"This is {label}." for label in labels]
            inputs = _encode(tokenizer, texts + prototypes, max_input_tokens, model.device)
            output = model(**inputs, output_hidden_states=True)
            mask = inputs["attention_mask"].unsqueeze(-1).float()
            embeddings = (output.hidden_states[-1] * mask).sum(1) / mask.sum(1)
            similarity = torch.nn.functional.cosine_similarity(
                embeddings[: len(texts), None], embeddings[None, len(texts):], dim=-1)
            probabilities = (similarity * 20).softmax(-1)  # MiniLM similarities are close together: sharpen
    return [{label: float(p) for label, p in zip(labels, row)} for row in probabilities]


def _generate_rows(loaded: LoadedBase, task: str, rows: list[tuple[str, str | None]]) -> list[str]:
    """(text, adapter key or None) rows of one task, generated in one batch."""
    with loaded.lock:
        return generate_texts(loaded.model, loaded.tokenizer, loaded.spec.architecture, task,
                              [text for text, _ in rows], [key is None for _, key in rows],
                              [key or BASE for _, key in rows], loaded.spec.max_input_tokens)


def _sentiment_rows(loaded: LoadedBase, rows: list[tuple[str, str | None]]) -> list[dict[str, float]]:
    """(text, adapter key or None) rows classified together; the bare encoder answers another way,
    so bare-base rows and adapter rows make one call each."""
    results: list[dict[str, float]] = [{} for _ in rows]
    with loaded.lock:
        for bare in (True, False):
            indices = [i for i, (_, key) in enumerate(rows) if (key is None) == bare]
            if indices:
                answers = sentiment_probabilities(
                    loaded.model, loaded.tokenizer, [rows[i][0] for i in indices], list(loaded.labels or ()),
                    bare, [rows[i][1] or BASE for i in indices], loaded.spec.max_input_tokens)
                for i, answer in zip(indices, answers):
                    results[i] = answer
    return results


def _require_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The input is empty: give some text.")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(f"The input has {len(text):,} characters; the limit is {MAX_INPUT_CHARS:,}.")
    return text


def check_history(history: Any) -> list[dict[str, Any]]:
    """A chat history as the API takes it: a list of {"role", "content"} (content: text, or gradio's
    list of typed parts), at most MAX_INPUT_CHARS in all."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise InputError("The history must be a list of {\"role\": ..., \"content\": ...} messages.")
    total = 0
    for number, message in enumerate(history, 1):
        if not isinstance(message, dict) or message.get("role") not in ROLES \
                or not isinstance(message.get("content"), (str, list)):
            raise InputError(f"History message {number} must be {{\"role\": \"user\" | \"assistant\" | \"system\", "
                             "\"content\": \"text\"}.")
        total += len(str(message["content"]))
    if total > MAX_INPUT_CHARS:
        raise InputError(f"The history has {total:,} characters; the limit is {MAX_INPUT_CHARS:,}.")
    return history


# A translation or summary runs for a second or more, so its requests can wait longer than the
# batcher's default 10 ms (2-3% of that): eight requests sent at once reach the batcher over several
# milliseconds (each thread first reads its adapter's metadata, one at a time under the GIL), and
# with 10 ms the last ones often missed the batch and waited a whole second for the next.
GENERATION_WINDOW_S = 0.03


def _run_generation(task: str, text: str, adapter: str | None, base: str | None, workspace: str | None) -> str:
    """One request, batched with others for the same base and task that arrive at the same time."""
    _require_text(text)
    target = resolve_target(task, adapter, base, workspace)
    run = partial(_generate_rows, target.loaded, task)
    return batcher(target.loaded, task, run, GENERATION_WINDOW_S).submit((text, target.key))


def translate(text: str, adapter: str | None = None, base: str | None = None, workspace: str | None = None) -> str:
    """English to Spanish."""
    return _run_generation("translation", text, adapter, base, workspace)


def summarize(text: str, adapter: str | None = None, base: str | None = None, workspace: str | None = None) -> str:
    """A one-line summary of a paragraph."""
    return _run_generation("summarization", text, adapter, base, workspace)


def classify_sentiment(text: str, adapter: str | None = None, base: str | None = None,
                       workspace: str | None = None) -> dict[str, float]:
    """Class probabilities for one text."""
    _require_text(text)
    target = resolve_target("sentiment", adapter, base, workspace)
    run = partial(_sentiment_rows, target.loaded)
    return batcher(target.loaded, "sentiment", run).submit((text, target.key))


def _chat_message_budget(limit: int) -> int:
    """Tokens one chat message may use: the rest of the window is kept for the template and a reply."""
    return max(32, limit // 2)


def chat(message: str, history: list[dict[str, str]] | None = None, adapter: str | None = None,
         system: str | None = None, base: str | None = None, workspace: str | None = None) -> Iterator[str]:
    """Stream the reply: yields the text so far after each new token."""
    _require_text(message)
    target = resolve_target("chat", adapter, base, workspace)
    tokenizer, limit = target.loaded.tokenizer, target.loaded.spec.max_input_tokens
    # Every message takes at least one token, so no more than `limit` of the latest can fit: without
    # this cut, a long history would be re-tokenized once per dropped turn below.
    history = check_history(history)[-limit:]
    messages = chat_messages(clip_text(tokenizer, message, _chat_message_budget(limit)), history, system)
    while True:  # drop the oldest turns until the conversation fits
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        if inputs["input_ids"].shape[1] <= limit or len(messages) <= 2:
            break
        messages = messages[:1] + messages[3:] if messages[0]["role"] == "system" else messages[2:]
    inputs = {k: v[:, -limit:].to(target.loaded.model.device) for k, v in inputs.items()}
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_POLL_S)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with target.loaded.lock, torch.inference_mode():
                model = target.loaded.model
                with per_row_adapters(model, target.adapter_names(1)):
                    model.generate(**inputs, streamer=streamer, do_sample=False,
                                   max_new_tokens=MAX_NEW_TOKENS["chat"], repetition_penalty=1.1,
                                   pad_token_id=tokenizer.pad_token_id)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            failure.append(error)
            streamer.end()  # otherwise the reader waits for tokens that never come

    worker = Thread(target=run, daemon=True)
    worker.start()
    reply = ""
    for piece in _pieces(streamer, worker):
        reply += piece
        yield reply
    if failure:
        raise failure[0]


def _pieces(streamer: TextIteratorStreamer, worker: Thread) -> Iterator[str]:
    """The streamer's text as it comes. Its timeout only wakes the reader: under load a reply may
    wait minutes for the model's lock behind other requests, and a fixed timeout failed those
    (while their generation still ran later, for nobody). The worker always ends the stream, even
    when it fails; a worker gone without ending it ends the reply."""
    while True:
        try:
            yield next(streamer)
        except StopIteration:
            return
        except queue.Empty:
            if not worker.is_alive():
                return


def chat_replies(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]],
                 adapter_names: list[str] | None = None, max_new_tokens: int = MAX_NEW_TOKENS["chat"],
                 max_input_tokens: int = 1024) -> list[tuple[str, bool]]:
    """Replies to a batch of conversations (rows may use different adapters), and whether each
    one ended with the end-of-turn token rather than running into the length cap."""
    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    with padding_side(tokenizer, "left"):
        inputs = _encode(tokenizer, texts, max_input_tokens, model.device, add_special_tokens=False)
    with torch.inference_mode(), per_row_adapters(model, adapter_names):
        output = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens, repetition_penalty=1.1,
                                pad_token_id=tokenizer.pad_token_id)
    new_tokens = output[:, inputs["input_ids"].shape[1]:]
    stops = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")} - {None}
    return [(tokenizer.decode(row, skip_special_tokens=True).strip(), any(t in stops for t in row.tolist()))
            for row in new_tokens]
