"""Causal-LM loss that runs the language-model head only where a label is trained.

Gemma's 262k-token vocabulary makes the head most of the cost of a step; a translation prompt
is half the tokens, so projecting only the answer positions roughly halves the work again.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from peft import PeftModel

from finetune.features import IGNORE
from models.mixed_lora import per_row_adapters


def target_only_lm_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled positions of a right-padded batch."""
    core = model.get_base_model() if isinstance(model, PeftModel) else model
    # Calling the decoder directly skips PeftModel.forward, so route per-row adapters here.
    with per_row_adapters(model, batch.get("adapter_names")):
        hidden = core.get_decoder()(input_ids=batch["input_ids"],
                                    attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    logits = core.get_output_embeddings()(hidden[:, :-1][keep])
    softcap = getattr(core.config, "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits.float(), targets[keep])
