"""One function per task, usable from Python without Gradio.

Each call names its adapter (or none, for the base); rows with different adapters share the model
without changing any state another request relies on. Translations, summaries and chat replies on a
causal base go through the base's engine (`models.engine`: continuous batching, each sequence
through its own adapter) and stream: the `*_stream` functions yield a `Partial` per new token, and
while a request waits for a place, how many are ahead of it. A chat turn may blend two personas
(`resolve_blend`): the engine mixes their updates per token, the shared model unchanged. Sentiment
and the seq2seq bases are micro-batched (`models.batching`): requests that arrive together run as
one batched call.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterator

import torch
from peft import PeftModel

import models.catalogue  # noqa: F401  (the words of the messages below)
from models import activity, mixed_lora
from models.adapters import WEIGHTS_FILE, AdapterError, AdapterInfo, adapter_key, find_adapter
from models.batching import batcher, release_openmp_threads, return_free_memory
from models.engine import Engine, GenerationRequest, Scheduler, StreamState, follow
from models.generation import (chat_message_budget, chat_prompt_messages, chat_request, clip_text, first_line,
                               generate_texts, class_probabilities, text_budget, text_request)
from models.loading import LoadedBase, forget, load_base
from models.messages import LocalizedError, Message, say
from models.mixed_lora import BASE, Blend
from models.registry import DEFAULT_BASE
from models.tasks import get_task

mixed_lora.install()  # rows with different adapters in one matmul, not one adapter at a time
# The models read a few hundred tokens at most; a longer request would only cost tokenizing time.
MAX_INPUT_CHARS = 200_000
ROLES = ("system", "user", "assistant")


class InputError(LocalizedError, ValueError):
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
                raise AdapterError("inference.misfit", name=info.name, base=info.base_model, problem=problem)


def _misfit(modules: dict[str, torch.nn.Module], name: str, shape: tuple[int, ...]) -> Message | None:
    """Why one saved tensor cannot go into the base (None when it can)."""
    owner, lora, part = name.partition(".lora_")
    if not lora:  # a whole module trained along (e.g. a classification head): same shape as the base's
        owner, _, attribute = name.rpartition(".")
        module = modules.get(owner)
        module = getattr(module, "original_module", module)
        current = getattr(module, attribute, None)
        if not isinstance(current, torch.Tensor):
            return say("inference.base_lacks", name=name)
        return None if tuple(current.shape) == shape else say("inference.shape_differs", name=name, shape=list(shape),
                                                              base_shape=list(current.shape))
    layer = getattr(modules.get(owner), "base_layer", modules.get(owner))
    if layer is None:
        return say("inference.no_layer", layer=owner)
    sizes = {"A.weight": (1, "in_features"), "B.weight": (0, "out_features"),
             "embedding_A": (1, "num_embeddings"), "embedding_B": (0, "embedding_dim")}
    axis, attribute = sizes.get(part, (None, None))
    expected = getattr(layer, attribute, None) if attribute else None
    if expected is not None and len(shape) == 2 and shape[axis] != expected:
        return say("inference.layer_size", layer=owner, attribute=attribute, expected=expected, actual=shape[axis])
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
                raise AdapterError("inference.load_failed", name=info.name, base=info.base_model,
                                   error=type(error).__name__) from None
            loaded.model.eval()
            mixed_lora.forget_stacked(loaded.model)
            problem = mixed_lora.token_routing_problem(loaded.model, key) if loaded.spec.architecture == "causal" else None
            if problem:  # the engine serves causal bases per token
                loaded.model.delete_adapter(key)
                mixed_lora.forget_stacked(loaded.model)
                raise AdapterError("inference.cannot_serve", name=info.name, problem=problem)
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
                if loaded.engine is not None:
                    loaded.engine.prefixes.forget(key)


def resolve_target(task: str, adapter: str | None = None, base: str | None = None,
                   workspace: str | None = None) -> Target:
    """The loaded base and attached adapter that serve a request (no adapter: the task's base, or `base`)."""
    get_task(task)  # an unknown task fails here, by name
    if not adapter:
        return Target(load_base(base or DEFAULT_BASE[task]), None, None)
    info = find_adapter(adapter, workspace) if workspace else find_adapter(adapter)
    if info.task != task:
        raise AdapterError("inference.wrong_task", name=info.name, task=info.task, wanted=task)
    loaded = load_base(info.base_model, info.labels)
    return Target(loaded, attach(loaded, info), info)


def resolve_blend(task: str, first: str | None, second: str | None, weight: float, base: str | None = None,
                  workspace: str | None = None) -> tuple[LoadedBase, str | Blend | None]:
    """The loaded base and what serves `weight` of adapter `second`'s update plus the rest of `first`'s
    (None on a side: the bare base there, so the blend scales the other persona). Both are attached to
    their common base, which is otherwise left as it is: the engine mixes the two per token
    (`mixed_lora.Blend`), so other users' requests in the same steps are untouched. The same persona
    twice is allowed: its blend with itself is just that persona."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise InputError("inference.blend_weight", weight=weight)
    infos = {name: find_adapter(name, workspace) if workspace else find_adapter(name)
             for name in (first, second) if name}
    if len({info.base_model for info in infos.values()}) > 1:  # before loading a second base for nothing
        raise AdapterError("inference.blend_bases", first=first, second=second, first_base=infos[first].base_model,
                           second_base=infos[second].base_model)
    targets = {name: resolve_target(task, name, base, workspace) for name in infos}
    loaded = next(iter(targets.values())).loaded if targets else load_base(base or DEFAULT_BASE[task])
    keys = [targets[name].key if name else None for name in (first, second)]
    return loaded, mixed_lora.blend(*keys, float(weight))


def is_truncated(task: str, text: str, adapter: str | None = None, workspace: str | None = None) -> bool:
    """Whether the input is longer than the model takes (the app shows a note)."""
    loaded = resolve_target(task, adapter, workspace=workspace).loaded
    limit, kind = loaded.spec.max_input_tokens, get_task(task).kind
    if kind == "chat":
        limit = chat_message_budget(limit)
    elif kind == "generate":
        limit = text_budget(loaded.tokenizer, loaded.spec.architecture, task, limit)
    return clip_text(loaded.tokenizer, text, limit) != text


def _generate_rows(loaded: LoadedBase, task: str, rows: list[tuple[str, str | None]]) -> list[str]:
    """(text, adapter key or None) rows of one task on a seq2seq base, generated in one batch."""
    with loaded.lock:
        return generate_texts(loaded.model, loaded.tokenizer, loaded.spec.architecture, task,
                              [text for text, _ in rows], [key is None for _, key in rows],
                              [key or BASE for _, key in rows], loaded.spec.max_input_tokens)


def _classified_rows(loaded: LoadedBase, rows: list[tuple[str, str | None]]) -> list[dict[str, float]]:
    """(text, adapter key or None) rows classified together; the bare encoder answers another way,
    so bare-base rows and adapter rows make one call each."""
    results: list[dict[str, float]] = [{} for _ in rows]
    with loaded.lock:
        for bare in (True, False):
            indices = [i for i, (_, key) in enumerate(rows) if (key is None) == bare]
            if indices:
                answers = class_probabilities(
                    loaded.model, loaded.tokenizer, [rows[i][0] for i in indices], list(loaded.labels or ()),
                    bare, [rows[i][1] or BASE for i in indices], loaded.spec.max_input_tokens)
                for i, answer in zip(indices, answers):
                    results[i] = answer
    return results


def require_text(text: str) -> str:
    """The text of a request, refused with a message when it is empty or longer than any model reads."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("inference.empty")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError("inference.too_long", chars=len(text), limit=MAX_INPUT_CHARS)
    return text


def check_history(history: Any) -> list[dict[str, Any]]:
    """A chat history as the API takes it: a list of {"role", "content"} (content: text, or gradio's
    list of typed parts), at most MAX_INPUT_CHARS in all."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise InputError("inference.history_not_list")
    total = 0
    for number, message in enumerate(history, 1):
        if not isinstance(message, dict) or message.get("role") not in ROLES \
                or not isinstance(message.get("content"), (str, list)):
            raise InputError("inference.history_bad_message", number=number)
        total += len(str(message["content"]))
    if total > MAX_INPUT_CHARS:
        raise InputError("inference.history_too_long", chars=total, limit=MAX_INPUT_CHARS)
    return history


# A seq2seq translation or summary runs for a second or more, so its requests can wait longer than
# the batcher's default window: requests sent at once reach the batcher over several milliseconds,
# and with the default the last ones often missed the batch and waited for the whole next one.
GENERATION_WINDOW_S = 0.03
_CREATING = threading.Lock()


@dataclass(frozen=True)
class Partial:
    """A reply as it grows: its text so far, and while it waits for a place, how many are ahead.
    `cut`: it ended because it reached its length limit, not because the model finished it."""

    text: str
    ahead: int | None = None
    done: bool = False
    cut: bool = False


def to_last_sentence(text: str) -> str:
    """A cut reply up to the end of its last whole sentence, so it does not stop mid-word; the whole text
    when no sentence ends in its second half (cutting there would hide most of the reply)."""
    ends = [match.end() for match in re.finditer(r"[.!?…](?=\s|$)", text)]
    return text[:ends[-1]] if ends and ends[-1] >= len(text) / 2 else text


@dataclass(frozen=True)
class ChatTurn:
    """One conversation's next message, and the adapter (persona) that answers it (None: the base); with
    a `weight`, a blend: that share of `blend_with`'s update (None: the base) and the rest of `adapter`'s."""

    message: str
    history: list[dict[str, Any]] | None = None
    adapter: str | None = None
    system: str | None = None
    blend_with: str | None = None
    weight: float | None = None  # None: no blend


def _after_requests() -> None:
    release_openmp_threads()
    return_free_memory()


def engine(loaded: LoadedBase) -> Engine:
    """The continuous-batching engine of a causal base (made on first use)."""
    with _CREATING:
        if loaded.engine is None:
            loaded.engine = Engine(lambda: loaded.model, loaded.lock, Scheduler(), _after_requests,
                                   activity.engine_busy)
        return loaded.engine


def _was_cut(state: StreamState, request: GenerationRequest) -> bool:
    return (state.done and len(state.tokens) >= request.max_new_tokens
            and (not state.tokens or state.tokens[-1] not in request.stop_ids))


def _partials(requests: list[GenerationRequest], texts: list[Callable[[tuple[int, ...]], str]],
              loaded: LoadedBase) -> Iterator[tuple[Partial, ...]]:
    """The requests' streams as Partials side by side: places in line, then the texts as tokens come
    (skipping a text that ends half-way through a character: a token may end inside one)."""
    shown: tuple[Partial, ...] | None = None
    for states in follow(engine(loaded).submit_all(requests)):
        pieces = tuple(Partial("", state.ahead) if state.ahead is not None else
                       Partial(text_of(state.tokens), None, state.done, _was_cut(state, request))
                       for state, text_of, request in zip(states, texts, requests))
        if pieces != shown and not any(p.text.endswith("\ufffd") and not p.done for p in pieces):
            shown = pieces
            yield pieces


def generation_streams(task: str, requests: list[tuple[str, str | None]], base: str | None = None,
                       workspace: str | None = None, owner: str | None = None) -> Iterator[tuple[Partial, ...]]:
    """Translations or summaries of (text, adapter) requests, side by side as they are written
    (a seq2seq base answers each in one piece)."""
    for text, _ in requests:
        require_text(text)
    targets = [resolve_target(task, adapter, base, workspace) for _, adapter in requests]
    loaded = targets[0].loaded
    if loaded.spec.architecture != "causal":
        run = partial(_generate_rows, loaded, task)
        with ThreadPoolExecutor(len(requests)) as pool:  # together, so that they share a batch
            answers = list(pool.map(lambda item: batcher(loaded, task, run, GENERATION_WINDOW_S).submit(item),
                                    [(text, target.key) for (text, _), target in zip(requests, targets)]))
        yield tuple(Partial(answer, None, True) for answer in answers)
        return
    items = [text_request(target.loaded.model, target.loaded.tokenizer, task, text, target.key,
                          target.loaded.spec.max_input_tokens, few_shot=target.key is None, owner=owner or workspace)
             for (text, _), target in zip(requests, targets)]
    yield from _partials(items, [partial(first_line, loaded.tokenizer)] * len(items), loaded)


def final_texts(streams: Iterator[tuple[Partial, ...]]) -> list[str]:
    """The complete answers of streams followed to their end."""
    pieces: tuple[Partial, ...] = ()
    for pieces in streams:
        pass
    return [piece.text for piece in pieces]


def translate(text: str, adapter: str | None = None, base: str | None = None, workspace: str | None = None,
              owner: str | None = None) -> str:
    """English to Spanish."""
    return final_texts(generation_streams("translation", [(text, adapter)], base, workspace, owner))[0]


def summarize(text: str, adapter: str | None = None, base: str | None = None, workspace: str | None = None,
              owner: str | None = None) -> str:
    """A one-line summary of a paragraph."""
    return final_texts(generation_streams("summarization", [(text, adapter)], base, workspace, owner))[0]


def classify(task: str, text: str, adapter: str | None = None, base: str | None = None,
             workspace: str | None = None) -> dict[str, float]:
    """Class probabilities for one text, in a classification task; texts that arrive together are
    classified in one batch."""
    require_text(text)
    target = resolve_target(task, adapter, base, workspace)
    run = partial(_classified_rows, target.loaded)
    return batcher(target.loaded, "classify", run).submit((text, target.key))


def classify_sentiment(text: str, adapter: str | None = None, base: str | None = None,
                       workspace: str | None = None) -> dict[str, float]:
    """Class probabilities for one text."""
    return classify("sentiment", text, adapter, base, workspace)


def chat_streams(turns: list[ChatTurn], base: str | None = None, workspace: str | None = None,
                 owner: str | None = None, task: str = "chat") -> Iterator[tuple[Partial, ...]]:
    """The replies to several conversations (a persona's and the base's, say), side by side as they are written."""
    requests = []
    for turn in turns:
        require_text(turn.message)
        if turn.weight is None:
            loaded, adapter = (target := resolve_target(task, turn.adapter, base, workspace)).loaded, target.key
        else:
            loaded, adapter = resolve_blend(task, turn.adapter, turn.blend_with, turn.weight, base, workspace)
        limit = loaded.spec.max_input_tokens
        messages = chat_prompt_messages(loaded.tokenizer, turn.message, check_history(turn.history), turn.system, limit)
        requests.append(chat_request(loaded.model, loaded.tokenizer, messages, adapter, limit, owner or workspace,
                                     task=task))
    decode = partial(loaded.tokenizer.decode, skip_special_tokens=True)
    yield from _partials(requests, [decode] * len(requests), loaded)


def chat(message: str, history: list[dict[str, str]] | None = None, adapter: str | None = None,
         system: str | None = None, base: str | None = None, workspace: str | None = None,
         owner: str | None = None) -> Iterator[str]:
    """Stream the reply: yields the text so far after each new token."""
    for (piece,) in chat_streams([ChatTurn(message, history, adapter, system)], base, workspace, owner):
        if piece.ahead is None and (piece.text or piece.done):
            yield piece.text
