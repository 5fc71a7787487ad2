"""bf16 matmuls on a CPU that multiplies bf16 in hardware: the LM head (and the embedding tied to it)
stored in bf16, and the body's linear layers multiplying bf16 copies of their fp32 weights. The
adapters, the trained weights and everything handed between layers stay fp32."""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedModel


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX-512 BF16: bf16 matmuls run in hardware (several times the fp32 rate), not emulated."""
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def _float32_output(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def _bf16_linear(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """fp32 in, fp32 out, the product in bf16 (`weight`, `bias`: bf16). It runs on a 2-D bf16 copy of the
    input: on a 3-D input (generation's last position) torch's bf16 matmul turns into a batched product
    that first copies the whole weight, on every prompt."""
    flat = torch.nn.functional.linear(hidden.reshape(-1, hidden.shape[-1]).to(torch.bfloat16), weight, bias)
    return flat.float().view(*hidden.shape[:-1], flat.shape[-1])


def _bf16_head_forward(head: torch.nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    return _bf16_linear(hidden, head.weight, head.bias)


def _bf16_copy(weight: torch.Tensor, cached: Path | None) -> torch.Tensor:
    """`weight` in bf16, kept in `cached` after the first conversion. Converting reads the whole fp32
    weight, and pages read from memory-mapped weights stay resident (gemma's head: hundreds of MB)."""
    if cached is not None and cached.exists():
        return load_file(cached)["weight"]
    copy = weight.detach().to(torch.bfloat16)
    if cached is not None:
        partial = cached.with_name(f"{cached.name}.partial-{os.getpid()}-{threading.get_ident()}")
        save_file({"weight": copy}, partial)
        os.replace(partial, cached)
    return copy


def head_outweighs_layers(model: PreTrainedModel) -> bool:
    """Whether the LM head holds more weights than all the layers together (gemma-3-270m's does,
    SmolLM2's does not). Only then does a bf16 head pay: elsewhere it saves little time, and long chat
    replies drift from the fp32 ones the personas were measured with."""
    head = model.get_output_embeddings().weight
    layers = sum(p.numel() for p in model.parameters() if p is not head)
    return head.numel() > layers


def use_bf16_output_head(model: PreTrainedModel, cached: Path | None = None) -> None:
    """Store the LM head (and the input embedding it is tied to) in bf16, keeping every other layer in fp32.

    Each generated token multiplies the hidden states by the whole head (gemma-3's vocabulary is 262k:
    most of a decoding step). In fp32 a batch of rows costs several times one row (the kernel repacks
    the weight on every call); in bf16 on a CPU with bf16 units both cost less than one fp32 row, and
    the weight takes half the memory (BENCHMARKS.md, design notes).
    Logits and embeddings are handed on in fp32, so the rest of the model and its LoRA adapters are unchanged.
    `cached`: a file that keeps the bf16 weight between starts.
    """
    head, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    tied = embedding is not None and embedding.weight is head.weight
    head.weight = torch.nn.Parameter(_bf16_copy(head.weight, cached), requires_grad=False)
    if head.bias is not None:
        head.bias = torch.nn.Parameter(head.bias.detach().to(torch.bfloat16), requires_grad=False)
    head.forward = functools.partial(_bf16_head_forward, head)
    if tied:
        embedding.weight = head.weight
        embedding.register_forward_hook(_float32_output)


class Bf16MatmulLinear(torch.nn.Linear):
    """A frozen `nn.Linear` that multiplies in bf16, fp32 in and fp32 out, from bf16 copies of its weight
    and bias kept beside the fp32 ones (`use_bf16_body_matmuls`). The fp32 weight stays the parameter,
    so peft wraps this layer as any Linear and keeps the adapters it adds in fp32; copies older than the
    weight (an in-place update) are made anew."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bf16_version != self.weight._version:
            self.make_bf16_copies()
        return _bf16_linear(x, self.weight_bf16, self.bias_bf16)

    def make_bf16_copies(self) -> None:
        for name in ("weight", "bias"):
            tensor = getattr(self, name)
            self.register_buffer(f"{name}_bf16", None if tensor is None else tensor.detach().to(torch.bfloat16),
                                 persistent=False)
        self.bf16_version = self.weight._version


def use_bf16_body_matmuls(model: PreTrainedModel) -> None:
    """Run the body's linear layers (not the LM or classifier head) in bf16; the adapters stay fp32.

    Where rows come in batches the body is compute-bound, and bf16 units multiply several times faster.
    The shipped adapters score as in fp32 this way; SmolLM2's chat (one row, decoded token by token)
    streams slower in bf16, so it stays fp32 (`BaseModelSpec.bf16_body`). Measurements: BENCHMARKS.md,
    design notes."""
    for module in model.base_model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = Bf16MatmulLinear
            module.make_bf16_copies()
