"""Keys and values of recently read prompts, reused by prompts that begin the same way.

Prompts in a class repeat their beginnings: every request to the bare base starts with the same
worked examples, every chat with the model's system prompt, and the next turn of a conversation
with the whole previous turn. A key or value at one position depends only on the tokens up to it
(and on the adapter, which changes the projections; a blend of two adapters at one weight counts
as an adapter of its own), so a new prompt that shares its first N tokens with a remembered one,
under the same adapter, copies their N keys and values and is prefilled from token N on (vLLM
calls this automatic prefix caching). What is remembered: each prompt once
it is read, and each finished sequence with its reply (a conversation's next turn). Memory is
bounded by `max_tokens`; the least recently used entries go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from models.engine.scheduler import Sequence
from models.mixed_lora import Blend


@dataclass
class _Entry:
    tokens: tuple[int, ...]
    keys: dict[int, torch.Tensor]  # layer -> (1, heads, tokens, head_dim)
    values: dict[int, torch.Tensor]


class PrefixCache:
    """Remembered prefixes of one engine's model, per adapter (None: the bare base)."""

    def __init__(self, max_tokens: int = 2048):
        self.max_tokens = max_tokens
        self._entries: OrderedDict[tuple[str | Blend | None, tuple[int, ...]], _Entry] = OrderedDict()
        self._size = 0
        self.hits = self.reused_tokens = 0  # for tests and benchmarks

    def reuse(self, sequence: Sequence) -> int:
        """Start a sequence from the longest remembered beginning of its prompt (at least one prompt
        token is always left to read: its logits choose the first new token). Returns the tokens reused."""
        prompt, adapter = sequence.request.prompt, sequence.request.adapter
        best, length = None, 0
        for (owner, _), entry in self._entries.items():
            if owner == adapter:
                shared = _shared_length(entry.tokens, prompt, len(prompt) - 1)
                if shared > length:
                    best, length = entry, shared
        if best is None:
            return 0
        self._entries.move_to_end((adapter, best.tokens))
        sequence.kv.load({layer: keys[:, :, :length] for layer, keys in best.keys.items()},
                         {layer: values[:, :, :length] for layer, values in best.values.items()})
        sequence.fed = length
        self.hits += 1
        self.reused_tokens += length
        return length

    def remember(self, sequence: Sequence) -> None:
        """Keep the keys and values of what the sequence has read so far (its prompt, or its prompt and
        reply once it ends), unless an entry already holds all of it."""
        tokens = tuple(sequence.all_ids[: sequence.kv.length])
        adapter = sequence.request.adapter
        if not tokens or len(tokens) > self.max_tokens or any(
                owner == adapter and entry.tokens[: len(tokens)] == tokens
                for (owner, _), entry in self._entries.items()):
            return
        keys = {layer: stored[:, :, : len(tokens)].clone() for layer, stored in sequence.kv.keys.items()}
        values = {layer: stored[:, :, : len(tokens)].clone() for layer, stored in sequence.kv.values.items()}
        for key in [key for key in self._entries if key[0] == adapter and tokens[: len(key[1])] == key[1]]:
            self._drop(key)  # a shorter prefix of this one: the new entry serves whoever it served
        self._entries[adapter, tokens] = _Entry(tokens, keys, values)
        self._size += len(tokens)
        while self._size > self.max_tokens:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0

    def forget(self, adapter: str) -> None:
        """Drop an adapter's entries, and those of the blends it is part of (it was deleted or replaced)."""
        for key in [key for key in self._entries
                    if key[0] == adapter or isinstance(key[0], Blend) and key[0].uses(adapter)]:
            self._drop(key)

    def _drop(self, key: tuple[str | Blend | None, tuple[int, ...]]) -> None:
        self._size -= len(self._entries.pop(key).tokens)


def _shared_length(a: tuple[int, ...], b: tuple[int, ...], limit: int) -> int:
    """How many first tokens `a` and `b` share, at most `limit`."""
    length = 0
    for x, y in zip(a[:limit], b[:limit]):
        if x != y:
            break
        length += 1
    return length
