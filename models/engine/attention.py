"""Attention over sequences packed into one row, each with its own key/value cache.

The engine (`models.engine.loop`) runs every active sequence's new tokens through the model in one
forward pass: a decoding sequence adds one token, a sequence being prefilled adds a chunk of its
prompt. Packed into one row, the linear layers multiply all of them together, which is what makes a
step of sixteen sequences cost little more than a step of one. Only attention must keep the
sequences apart, and that is what this module does:

- `RaggedCache` is the `Cache` the model writes to: `update` stores each sequence's new keys and
  values in that sequence's own buffers (`SequenceKV`, sized to the sequence, grown as it grows),
  and hands back a `RaggedView` instead of one padded tensor.
- `ragged_attention`, registered with transformers' `AttentionInterface` as "ragged_sdpa", runs
  transformers' own sdpa attention once per sequence on its span of queries and its own keys:
  bottom-right causal within a prefill chunk, and the model's sliding window where it has one
  (gemma-3). Given ordinary tensors (training, `generate`) it is plain sdpa, with sdpa's masks, so
  a model switched to it behaves as before everywhere else.

No padding is stored or attended to, a sequence that leaves frees exactly its own memory, and one
that joins needs no copy of anybody else's cache. transformers' own continuous batching
(`generate_batch`, a paged cache) does the same with blocks of a shared pool; it has no per-request
adapters, which is why the playground has this small engine (BENCHMARKS.md, classroom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.cache_utils import Cache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

IMPLEMENTATION = "ragged_sdpa"
FIRST_CAPACITY = 64  # tokens a sequence's buffers hold beyond its prompt before they first grow


@dataclass
class SequenceKV:
    """One sequence's keys and values, per layer (1, heads, capacity, head_dim); `length` are filled."""

    capacity: int
    limit: int  # the most tokens this sequence can ever hold (prompt + its cap on new tokens)
    keys: dict[int, torch.Tensor] = field(default_factory=dict)
    values: dict[int, torch.Tensor] = field(default_factory=dict)
    length: int = 0

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Store `keys`/`values` (1, heads, n, head_dim) at positions length .. length + n."""
        end = self.length + keys.shape[2]
        if end > self.capacity:  # the first layer to see it grows the capacity, every layer its buffers
            self.capacity = min(max(end, 2 * self.capacity), max(end, self.limit))
        stored = self.keys.get(layer)
        if stored is None or stored.shape[2] < end:
            for kept, new in ((self.keys, keys), (self.values, values)):
                grown = new.new_empty(1, new.shape[1], self.capacity, new.shape[3])
                if layer in kept:
                    grown[:, :, : self.length] = kept[layer][:, :, : self.length]
                kept[layer] = grown
        self.keys[layer][:, :, self.length: end] = keys
        self.values[layer][:, :, self.length: end] = values

    def load(self, keys: dict[int, torch.Tensor], values: dict[int, torch.Tensor]) -> None:
        """Start from copies of another sequence's first keys and values (a shared prompt prefix)."""
        length = next(iter(keys.values())).shape[2]
        self.capacity = max(self.capacity, length)
        for kept, given in ((self.keys, keys), (self.values, values)):
            for layer, tensor in given.items():
                kept[layer] = tensor.new_empty(1, tensor.shape[1], self.capacity, tensor.shape[3])
                kept[layer][:, :, :length] = tensor
        self.length = length


@dataclass(frozen=True)
class Span:
    """The tokens [start, start + count) of the packed row belong to `kv`'s sequence."""

    kv: SequenceKV
    start: int
    count: int


class RaggedView:
    """What `RaggedCache.update` returns in place of a tensor: the cache and the layer, for `ragged_attention`."""

    def __init__(self, cache: "RaggedCache", layer: int):
        self.cache, self.layer = cache, layer


class RaggedCache(Cache):
    """The cache of one forward pass over packed sequences: `spans` say whose tokens are where.
    Sequences' positions advance only when the caller calls `advance` after the pass succeeded,
    so a failed pass leaves every sequence as it was."""

    def __init__(self, spans: list[Span]):
        super().__init__(layers=[])
        self.spans = spans

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[RaggedView, RaggedView]:
        for span in self.spans:
            end = span.start + span.count
            span.kv.write(layer_idx, key_states[:, :, span.start: end], value_states[:, :, span.start: end])
        view = RaggedView(self, layer_idx)
        return view, view  # type: ignore[return-value]

    def advance(self) -> None:
        for span in self.spans:
            span.kv.length += span.count

    def get_seq_length(self, layer_idx: int = 0) -> int:  # positions are always passed explicitly
        return 0


def _visible(kv: SequenceKV, count: int, window: int | None) -> tuple[int, torch.Tensor | None]:
    """The first key position the span's queries may see, and the boolean mask (queries x keys), or
    None when plain causal attention from that first key is exact. A query at position q sees keys
    at positions k <= q, and k > q - window on a sliding-window layer (as transformers' masks)."""
    past, end = kv.length, kv.length + count
    first = max(0, past - window + 1) if window else 0
    if count == 1:
        return (max(0, end - window) if window else 0), None
    if past == 0 and (not window or count <= window):
        return 0, None
    queries = torch.arange(past, end)[:, None]
    keys = torch.arange(first, end)[None, :]
    mask = keys <= queries
    if window:
        mask &= keys > queries - window
    return first, mask[None, None]


def ragged_attention(module: torch.nn.Module, query: torch.Tensor, key: Any, value: Any,
                     attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """sdpa per packed sequence (see the module docstring); plain sdpa for ordinary tensors."""
    if not isinstance(key, RaggedView):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    window = kwargs.pop("sliding_window", None)
    kwargs.pop("is_causal", None)
    plain = not any(kwargs.get(name) is not None for name in ("softcap", "position_bias", "s_aux"))
    outputs = []
    for span in key.cache.spans:
        first, mask = _visible(span.kv, span.count, window)
        end = span.kv.length + span.count
        keys = span.kv.keys[key.layer][:, :, first:end]
        values = span.kv.values[key.layer][:, :, first:end]
        queries = query[:, :, span.start: span.start + span.count]
        if span.count == 1 and plain:
            outputs.append(_one_query(queries, keys, values, kwargs.get("scaling")))
        else:
            outputs.append(sdpa_attention_forward(module, queries, keys, values, mask, is_causal=True, **kwargs)[0])
    return torch.cat(outputs, dim=1), None


def _one_query(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scaling: float | None) -> torch.Tensor:
    """A decoding token's attention to every key it may see, laid out (1, 1, heads, head_dim) as transformers'
    sdpa returns it. What `sdpa_attention_forward` does for one query, without its checks, which cost about
    as much as the attention itself at this size: the query heads that share a key head become that head's
    rows (pack_gqa), so the keys are never copied per query head."""
    heads, groups = query.shape[1], keys.shape[1]
    packed = query.reshape(1, groups, heads // groups, query.shape[-1])
    output = torch.nn.functional.scaled_dot_product_attention(packed, keys, values, scale=scaling)
    return output.reshape(1, heads, 1, query.shape[-1]).transpose(1, 2)


def use_ragged_attention(model: Any) -> None:
    """Switch a causal model to `ragged_sdpa` (sdpa for everything but the engine's passes)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation(IMPLEMENTATION)
    if base.config._attn_implementation != IMPLEMENTATION:
        raise ValueError(f"{type(base).__name__} cannot use a custom attention function, so the serving engine "
                         "cannot run it.")


# A 4D tensor as `attention_mask` is taken as a ready mask and skips transformers' mask building,
# which the engine does not need (`ragged_attention` masks each sequence itself).
NO_MASK = torch.ones(1, 1, 1, 1, dtype=torch.bool)

AttentionInterface.register(IMPLEMENTATION, ragged_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(IMPLEMENTATION, sdpa_mask)
