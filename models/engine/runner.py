"""One engine step on the model: pack the chunks into one row, run the model once, choose tokens.

Each chunk's tokens sit in the packed row at their own positions; `RaggedCache` keeps each
sequence's keys and values apart, and `TokenRoutes` sends each adapter's span of tokens through
that adapter, or through a blend of two (the engine orders the chunks by adapter). Logits are
computed only at the positions that choose a token. The choice is greedy after transformers' own
repetition penalty, and a sequence ends on a stop token, its stopping criterion (e.g. the end of
the line) or its length cap: what `generate` does for one sequence, per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import RepetitionPenaltyLogitsProcessor

from models.engine.attention import NO_MASK, RaggedCache, Span
from models.engine.scheduler import Chunk, Sequence
from models.mixed_lora import TokenRoutes, per_row_adapters


@dataclass(frozen=True)
class Outcome:
    """A token chosen for a sequence in a step, and whether the sequence is done."""

    sequence: Sequence
    token: int
    finished: bool


def run_step(model: Any, chunks: list[Chunk]) -> list[Outcome]:
    """Feed every chunk through `model` in one forward pass; the chosen tokens of the sampling chunks.
    Sequences advance (cache length, prompt fed, tokens generated) only once every token is chosen,
    so a step that fails leaves them as they were and can be run again."""
    spans, routes, ids, positions, keep = [], [], [], [], []
    for chunk in chunks:
        start, sequence = len(ids), chunk.sequence
        spans.append(Span(sequence.kv, start, len(chunk.tokens)))
        adapter = sequence.request.adapter
        if adapter is not None:
            if routes and routes[-1][0] == adapter and routes[-1][2] == start:
                routes[-1] = (adapter, routes[-1][1], start + len(chunk.tokens))
            else:
                routes.append((adapter, start, start + len(chunk.tokens)))
        ids += chunk.tokens
        positions += range(sequence.kv.length, sequence.kv.length + len(chunk.tokens))
        if chunk.sample:
            keep.append(len(ids) - 1)
    cache = RaggedCache(spans)
    device = model.device
    with torch.inference_mode(), per_row_adapters(model, TokenRoutes(routes)):
        output = model(input_ids=torch.tensor([ids], device=device), position_ids=torch.tensor([positions], device=device),
                       attention_mask=NO_MASK.to(device), cache=cache, use_cache=True,
                       logits_to_keep=torch.tensor(keep, dtype=torch.long, device=device))
    logits = output.logits[0].float()
    sampling = [chunk.sequence for chunk in chunks if chunk.sample]
    tokens = [_choose(sequence, row) for sequence, row in zip(sampling, logits)]
    cache.advance()
    for chunk in chunks:
        if not chunk.sequence.prefilled:
            chunk.sequence.fed += len(chunk.tokens)
    for sequence, token in zip(sampling, tokens):
        sequence.generated.append(token)
    return [Outcome(sequence, token, _finished(sequence)) for sequence, token in zip(sampling, tokens)]


def _choose(sequence: Sequence, logits: torch.Tensor) -> int:
    """Greedy, after the repetition penalty over the prompt and what it generated (as `generate`)."""
    penalty = sequence.request.repetition_penalty
    if penalty != 1.0:
        seen = torch.tensor([sequence.all_ids], device=logits.device)
        logits = RepetitionPenaltyLogitsProcessor(float(penalty))(seen, logits[None].clone())[0]
    return int(logits.argmax())


def _finished(sequence: Sequence) -> bool:
    request = sequence.request
    if sequence.generated[-1] in request.stop_ids or len(sequence.generated) >= request.max_new_tokens:
        return True
    if request.stopping is None:
        return False
    ids = torch.tensor([sequence.all_ids])
    return bool(request.stopping(ids, None).any())
