"""Rows with different LoRA adapters computed together: two batched matmuls instead of a loop.

peft serves a batch whose rows name different adapters (`adapter_names`) one adapter at a time:
gather that adapter's rows, run its A and B, scatter the result back. With eight adapters that
is some forty small operations per layer, and on a CPU the per-operation cost dominates (a
MiniLM batch of eight reviews took about 2.5x as long with eight adapters as with one).

Here the adapters' A and B matrices are stacked once (ranks padded with zeros to the largest,
the scaling folded into B), each row picks its own adapter's pair by index, and two batched
matmuls finish every row at once:

    delta[i] = (x[i] @ A[owner(i)]^T) @ (scaling * B[owner(i)])^T

Each row does exactly its own adapter's work (an earlier version multiplied every row by all
adapters and masked the others out: eight adapters cost eight times the LoRA compute). The
padded ranks contribute exact zeros; only rounding may differ in the last bits from peft's loop
(the scaling is applied to B, not to the product; with alpha / r a power of two, as in the
shipped adapters, that step is exact).

Only plain LoRA on `nn.Linear` is taken over; DoRA and other variants and LoRA bias go to peft's
own code. (peft accepts `adapter_names` only at inference, so dropout never applies here.)

The serving engine (`models.engine`) packs every sequence's new tokens into one row, so its routes
are per token, not per row: a `TokenRoutes` names the adapter of each contiguous span of tokens
(the engine orders the spans by adapter), and each span gets its own adapter's two matmuls.

A span may also be a `Blend` of two adapters (Persona chat's "blend two personas"): its tokens get
(1 - w) of the first adapter's update plus w of the second's, computed as two weighted spans over
the same tokens. The shared model is never changed for it (peft's `add_weighted_adapter` would add
a third adapter to the base under its lock, and cost a rebuild per weight: benchmarks/blend.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from peft import PeftModel
from peft.tuners.lora import layer as lora_layer
from peft.utils import AuxiliaryTrainingWrapper

_PEFT_MIXED_FORWARD = lora_layer.LoraLayer._mixed_batch_forward
STACKED_SETS_KEPT = 4
BASE = "__base__"  # peft's name for "no adapter" in a per-row list


@dataclass(frozen=True)
class Blend:
    """Two adapters' LoRA updates mixed: (1 - weight) of `a`'s plus `weight` of `b`'s, each with its own
    scaling (BASE on one side: a share of the other alone). Used where a request names its adapter;
    make one with `blend`, which gives the plain adapter where the mix is one adapter alone."""

    a: str
    b: str
    weight: float

    def parts(self) -> tuple[tuple[str, float], tuple[str, float]]:
        return (self.a, 1.0 - self.weight), (self.b, self.weight)

    def uses(self, name: str) -> bool:
        return name in (self.a, self.b)


def blend(a: str | None, b: str | None, weight: float) -> str | Blend | None:
    """What serves `weight` of adapter b's update and the rest of a's (None: the bare base). At weight 0
    or 1, or with the same adapter twice, that is one adapter alone: served as such, so the reply is
    exactly that adapter's own (and shares its remembered prompts)."""
    if weight == 0 or a == b:
        return a
    if weight == 1:
        return b
    return Blend(a or BASE, b or BASE, float(weight))


def _parts(adapter: str | Blend) -> tuple[tuple[str, float], ...]:
    return adapter.parts() if isinstance(adapter, Blend) else ((adapter, 1.0),)


class TokenRoutes(list):
    """Adapters per span of tokens of a batch packed into one row: `spans` lists (adapter, start, end,
    weight) over the sequence axis, a blend's two adapters as two spans over the same tokens; tokens
    in no span use the bare base. `weighted`: some span's update is scaled (a blend). As a list it is
    one `BASE` entry, the one row peft's own checks expect."""

    def __init__(self, spans: list[tuple[str | Blend, int, int]]):
        super().__init__([BASE])
        self.spans = [(name, start, end, weight) for adapter, start, end in spans
                      for name, weight in _parts(adapter) if name != BASE and weight != 0]
        self.weighted = any(weight != 1 for *_, weight in self.spans)
        self.masks: dict[tuple[Any, ...], torch.Tensor] = {}  # per stacked layout, for this forward pass

    @property
    def adapters(self) -> set[str]:
        return {name for name, *_ in self.spans}


def _supported(module: Any, names: set[str], kwargs: dict[str, Any]) -> bool:
    return (
        not any(kwargs.get(key) is not None for key in lora_layer.VARIANT_KWARG_KEYS)
        and all(name not in module.lora_variant and module.lora_B[name].bias is None for name in names)
    )


def _stacked_weights(module: Any, adapters: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """A as (stacked, r, in) and (scaling * B)^T as (stacked, r, out), r the largest rank, and the slot of
    each of `adapters` in them. Built once per set of adapters rather than at every layer call of
    every generated token; a set contained in one already stacked uses that one (as rows of a batch
    finish and leave, the remaining adapters are always such a subset). Each stacked weight's
    version is kept, so an adapter updated in place is never served from a stale copy;
    `forget_stacked` drops the copies when adapters are loaded or deleted. A few recent sets are
    kept per layer."""
    cache: dict[tuple[str, ...], tuple[dict[str, tuple[int, int]], torch.Tensor, torch.Tensor, tuple[Any, ...]]]
    cache = module.__dict__.setdefault("_stacked_lora", {})
    exact = cache.get(adapters)  # the usual case, checked first: every layer of every step asks for it,
    if exact is not None and all(parameter._version == version for parameter, version in exact[3]):
        return exact[1], exact[2], list(range(len(adapters)))  # so it reads the kept parameters directly
    weights = {name: (module.lora_A[name].weight, module.lora_B[name].weight, module.scaling[name]) for name in adapters}
    versions = {name: (a._version, b._version) for name, (a, b, _) in weights.items()}
    for stacked, (stacked_versions, stacked_a, stacked_b, _) in reversed(cache.items()):  # the latest first
        if all(stacked_versions.get(name) == versions[name] for name in adapters):
            return stacked_a, stacked_b, [stacked.index(name) for name in adapters]
    if len(cache) >= STACKED_SETS_KEPT:
        cache.pop(next(iter(cache)))
    rank = max(a.shape[0] for a, _, _ in weights.values())
    first_a, first_b, _ = weights[adapters[0]]
    stacked_a = torch.zeros(len(adapters), rank, first_a.shape[1], dtype=first_a.dtype, device=first_a.device)
    stacked_b = torch.zeros(len(adapters), rank, first_b.shape[0], dtype=first_a.dtype, device=first_a.device)
    for i, (a, b, scaling) in enumerate(weights.values()):
        stacked_a[i, : a.shape[0]] = a
        stacked_b[i, : b.shape[1]] = (b * scaling).T
    kept = tuple((parameter, parameter._version) for a, b, _ in weights.values() for parameter in (a, b))
    cache[adapters] = (versions, stacked_a, stacked_b, kept)
    return stacked_a, stacked_b, list(range(len(adapters)))


def forget_stacked(model: torch.nn.Module) -> None:
    """Drop every layer's stacked copies and the list of hooked layers (call when the model's set of
    adapters changes)."""
    model.__dict__.pop("_per_row_modules", None)
    for module in model.modules():
        module.__dict__.pop("_stacked_lora", None)


def token_routing_problem(model: torch.nn.Module, name: str) -> str | None:
    """Why adapter `name` cannot be routed per token (None when it can): only plain LoRA on linear
    layers is; whole modules trained along (modules_to_save), DoRA and LoRA bias are not."""
    for module in model.modules():
        if isinstance(module, AuxiliaryTrainingWrapper) and name in getattr(module, "modules_to_save", {}):
            return "it trains whole modules along (modules_to_save)"
        if isinstance(module, lora_layer.LoraLayer) and name in module.lora_A:
            if not isinstance(module, lora_layer.Linear) or not _supported(module, {name}, {}):
                return f"layer {type(module).__name__} uses a LoRA variant or bias"
    return None


# Up to this many routed tokens (a decoding step's one token per sequence), every token goes through
# all the step's adapters in two matmuls and a mask keeps each token's own; above it (long prompt
# chunks), each adapter's span gets its own two matmuls, which skips the others' work.
MASKED_TOKENS = 64


def _span_mask(routes: TokenRoutes, adapters: tuple[str, ...], slots: list[int], stacked: int, rank: int,
               start: int, end: int, device: torch.device) -> torch.Tensor:
    """A token's weight for its own adapter's rank columns (1, or a blend's share; spans over the same
    tokens add up), zeros elsewhere: (tokens, stacked * rank). Made once per forward pass for each
    stacked layout (layers with the same adapters share it)."""
    key = (adapters, stacked, rank)
    kept = routes.masks.get(key)
    if kept is None:
        kept = torch.zeros(end - start, stacked, rank, device=device)
        for name, first, last, weight in routes.spans:
            if name in adapters:
                kept[first - start: last - start, slots[adapters.index(name)]] += weight
        kept = routes.masks[key] = kept.reshape(end - start, stacked * rank)
    return kept


def _token_routed_forward(self: Any, x: torch.Tensor, routes: TokenRoutes, *args: Any, **kwargs: Any) -> torch.Tensor:
    """The base layer for every token, plus each span's adapter for its tokens (x: one packed row)."""
    for key in lora_layer.VARIANT_KWARG_KEYS:
        kwargs.pop(key, None)
    result = self.base_layer(x, *args, **kwargs)
    spans = [span for span in routes.spans if span[0] in self.lora_A]
    if not spans:
        return result
    adapters = tuple(dict.fromkeys(name for name, *_ in spans))
    stacked_a, stacked_b, slots = _stacked_weights(self, adapters)
    start, end = spans[0][1], spans[-1][2]  # (a blend's two spans cover the same tokens)
    tokens, out = x[0, start:end], result[0, start:end]
    if tokens.dtype != stacked_a.dtype:  # a body serving in another precision: the adapters stay fp32
        tokens, out = tokens.to(stacked_a.dtype), out.new_zeros(out.shape, dtype=stacked_a.dtype)
    if end - start <= MASKED_TOKENS or len(spans) == 1:
        stacked, rank = stacked_a.shape[:2]
        hidden = tokens @ stacked_a.view(stacked * rank, -1).T
        if len(spans) > 1 or stacked > 1 or routes.weighted:
            hidden *= _span_mask(routes, adapters, slots, stacked, rank, start, end, hidden.device)
        out.addmm_(hidden, stacked_b.view(stacked * rank, -1))
    else:
        for name, first, last, weight in spans:
            slot, span = slots[adapters.index(name)], slice(first - start, last - start)
            out[span].addmm_(tokens[span] @ stacked_a[slot].T, stacked_b[slot], alpha=weight)
    if out.data_ptr() != result[0, start:end].data_ptr():
        result[0, start:end] += out.to(result.dtype)
    return result


def _per_row_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers that take `adapter_names`, found once per set of adapters: walking every module (with
    eight adapters on MiniLM some 1,300 of them, the adapters' own included) on every request cost a
    large share of a short one."""
    adapters = tuple(getattr(model, "peft_config", {}))
    kept = model.__dict__.get("_per_row_modules")
    if kept is None or kept[0] != adapters:
        kept = adapters, [module for module in model.modules()
                          if isinstance(module, (lora_layer.LoraLayer, AuxiliaryTrainingWrapper))]
        model.__dict__["_per_row_modules"] = kept
    return kept[1]


def batched_mixed_forward(self: Any, x: torch.Tensor, *args: Any, adapter_names: list[str], **kwargs: Any):
    """`LoraLayer._mixed_batch_forward` for `lora.Linear`, with every adapter's rows computed at once."""
    if isinstance(adapter_names, TokenRoutes):
        return _token_routed_forward(self, x, adapter_names, *args, **kwargs)
    rows = [i for i, name in enumerate(adapter_names) if name in self.lora_A]
    names = [adapter_names[i] for i in rows]
    adapters = list(dict.fromkeys(names))  # in order of first appearance
    if not _supported(self, set(adapters), kwargs):
        return _PEFT_MIXED_FORWARD(self, x, *args, adapter_names=adapter_names, **kwargs)
    for key in lora_layer.VARIANT_KWARG_KEYS:
        kwargs.pop(key, None)
    result = self.base_layer(x, *args, **kwargs)
    if not rows:
        return result
    stacked_a, stacked_b, slots = _stacked_weights(self, tuple(adapters))
    inputs = (x if len(rows) == len(x) else x[rows]).to(stacked_a.dtype)
    if len(adapters) == 1:  # one adapter for every row: plain matmuls, no per-row copies of the weights
        delta = (inputs @ stacked_a[slots[0]].T) @ stacked_b[slots[0]]
    else:
        owners = [slots[adapters.index(name)] for name in names]  # each row's slot in the stacks
        flat = inputs.reshape(len(rows), -1, inputs.shape[-1])  # (rows, positions, in)
        if len(adapters) < len(rows):  # some adapter serves several rows: copy each row's pair
            index = torch.tensor(owners, device=stacked_a.device)
            hidden = torch.bmm(flat, stacked_a[index].transpose(1, 2))
            delta = torch.bmm(hidden, stacked_b[index])
        elif owners == list(range(len(stacked_a))):  # every stacked adapter, in row order: the stacks as they are
            delta = torch.bmm(torch.bmm(flat, stacked_a.transpose(1, 2)), stacked_b)
        else:  # a row per adapter, fewer rows than stacked (rows have left): place the rows at their slots
            placed = flat.new_zeros(len(stacked_a), *flat.shape[1:])
            placed[owners] = flat
            delta = torch.bmm(torch.bmm(placed, stacked_a.transpose(1, 2)), stacked_b)[owners]
        delta = delta.reshape(*inputs.shape[:-1], -1)
    delta = delta.to(result.dtype)
    if len(rows) == len(x):
        result += delta
    else:
        result[rows] += delta
    return result


@contextmanager
def per_row_adapters(model: torch.nn.Module, names: list[str] | None) -> Iterator[None]:
    """Every forward pass and `generate` inside runs row i through adapter `names[i]` (what peft's
    `adapter_names=` does for one call), reading `names` at each pass so that a caller may shrink it
    as rows leave the batch. No names, or a model without adapters: nothing to route. peft installs
    its hooks anew on every call that names adapters, walking the whole model each time (a sizeable
    part of a decoding step, and of a short MiniLM request); the hooked layers are found once per set
    of adapters here."""
    requested = (names.adapters if isinstance(names, TokenRoutes) else set(names or ())) - {BASE}
    unknown = requested - set(getattr(model, "peft_config", {}))
    if unknown:  # as peft's own check: a typo must not quietly serve the base
        raise ValueError(f"Trying to infer with non-existing adapter(s): {', '.join(sorted(unknown))}")
    if not names or not isinstance(model, PeftModel):
        yield
        return
    if model.training:  # as peft: the rows' adapters skip LoRA dropout, so this is for inference only
        raise ValueError("Cannot pass `adapter_names` when the model is in training mode.")

    def inject(module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return args, {**kwargs, "adapter_names": names}

    handles = [module.register_forward_pre_hook(inject, with_kwargs=True) for module in _per_row_modules(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def install() -> None:
    """Use the batched computation for every peft `lora.Linear` in this process (idempotent)."""
    lora_layer.Linear._mixed_batch_forward = batched_mixed_forward
