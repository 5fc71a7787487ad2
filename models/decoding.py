"""Greedy decoding for a batch of causal-LM prompts that lets each row leave as soon as it is done.

`model.generate` keeps every row of a batch running until the last one ends: eight translations
whose longest needs 37 tokens and shortest 16 cost 37 steps of eight rows. Here a row leaves the
batch, and its slice of the KV cache (`Cache.batch_select_indices`), as soon as it stops (an
end-of-sequence token, its own length cap, or a stopping criterion such as the end of the line),
so the steps after it run on fewer rows. On gemma-3-270m a decoding step of 8 rows costs about
1.6 times one of 1 row, so the rows that finish early stop costing anything.

Each step is the one `generate` takes in greedy search: positions counted from the attention mask,
the mask left out when nothing is padded, the KV cache, logits of the last position only. A row's
tokens are therefore those `generate` gives it, up to rounding in the last bits (a batch of
another shape runs other matrix kernels). Seq2seq models keep `generate` (see `generate_texts`).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import StoppingCriteriaList

from models.mixed_lora import per_row_adapters


def eos_token_ids(model: Any) -> set[int]:
    """The ids that end a sequence, from the model's generation config (an int, a list or None)."""
    eos = model.generation_config.eos_token_id
    return set() if eos is None else {eos} if isinstance(eos, int) else set(eos)


def greedy_rows(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, limits: list[int],
                adapter_names: list[str] | None = None, stopping: StoppingCriteriaList | None = None) -> list[list[int]]:
    """The new tokens of each (left-padded) row, greedy, at most `limits[row]` of them, ending with the
    token that stopped it. `adapter_names`: peft's per-row adapters, kept in step with the rows."""
    names = list(adapter_names) if adapter_names is not None else None
    with per_row_adapters(model, names):
        return _decode(model, input_ids, attention_mask, limits, names, stopping)


def _decode(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, limits: list[int],
            names: list[str] | None, stopping: StoppingCriteriaList | None) -> list[list[int]]:
    ends = eos_token_ids(model)
    rows = list(range(len(input_ids)))
    new_tokens: list[list[int]] = [[] for _ in rows]
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    mask = None if bool(attention_mask.all()) else attention_mask
    sequences, step_input, cache = input_ids, input_ids, None
    while True:
        output = model(input_ids=step_input, attention_mask=mask, position_ids=positions, cache=cache,
                       use_cache=True, logits_to_keep=1)
        cache, logits = output.cache, output.logits[:, -1]
        tokens = logits.argmax(-1)
        sequences = torch.cat([sequences, tokens[:, None]], dim=-1)
        stopped = stopping(sequences, logits).tolist() if stopping is not None else [False] * len(rows)
        keep = []
        for i, (row, token) in enumerate(zip(rows, tokens.tolist())):
            new_tokens[row].append(token)
            if not (stopped[i] or token in ends or len(new_tokens[row]) >= limits[row]):
                keep.append(i)
        if not keep:
            return new_tokens
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=tokens.device)
            cache.batch_select_indices(index)
            rows, tokens, sequences = [rows[i] for i in keep], tokens[index], sequences[index]
            positions, mask = positions[index], mask[index] if mask is not None else None
            if names is not None:
                names[:] = [names[i] for i in keep]  # the adapter hooks read this list at every step
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=-1)
        positions, step_input = positions[:, -1:] + 1, tokens[:, None]
