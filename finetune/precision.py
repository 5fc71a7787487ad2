"""Training precision: the frozen base in bfloat16 where the hardware multiplies bf16 natively.

A LoRA job trains a few million parameters on top of a frozen base, and the base's matrix
products are most of each step. Stored in bf16 and multiplied under autocast, they run on AMX /
AVX-512 BF16 units or a GPU's tensor cores at several times the fp32 rate (BENCHMARKS.md,
efficiency), while the trained weights, their gradients and the optimizer stay fp32. The fp32
originals are put back when training ends, so the model measured afterwards (and every adapter
it saves) meets the same fp32 base that the app serves.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import TrainerCallback

from models import loading


def resolve_precision(precision: str, device: torch.device | None = None) -> str:
    """'auto' becomes bf16 on a CUDA GPU with bf16 or a CPU with bf16 matmul units, else fp32
    (`device`: where training runs, by default `models.loading.default_device()`)."""
    if precision != "auto":
        return precision
    device = loading.default_device() if device is None else device
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if loading.cpu_has_fast_bf16() else "fp32"


class FrozenWeightsInBf16(TrainerCallback):
    """Casts the model's frozen fp32 weights to bf16 when training begins and restores the very same
    fp32 tensors when it ends (tied weights are one parameter, cast once)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.originals: dict[torch.nn.Parameter, torch.Tensor] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for parameter in self.model.parameters():
            if not parameter.requires_grad and parameter.dtype == torch.float32 and parameter not in self.originals:
                self.originals[parameter] = parameter.data
                parameter.data = parameter.data.to(torch.bfloat16)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for parameter, original in self.originals.items():
            parameter.data = original
        self.originals.clear()
