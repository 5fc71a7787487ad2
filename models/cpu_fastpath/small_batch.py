"""A few rows through a linear layer as W @ x^T, where that is measured faster on this CPU.

A decoding step multiplies each weight by one row per sequence. MKL serves one row with a
matrix-vector kernel that streams the weight at memory speed, but two to a few rows as x @ W^T
with a kernel that streams it more slowly: on a 2-core AMD EPYC (AVX2) a SmolLM2 step of 2 to 4
sequences cost as much as one of 8 (BENCHMARKS.md, classroom). Asked as W @ x^T, the same product
goes to a kernel that keeps close to the one-row speed there, and is no faster from about 8 rows.
Kernels and their thresholds differ between processors, so `calibrate` measures both forms on the
model's own weights when it is loaded and uses W @ x^T only for the row counts where it was clearly
faster. One row, and every batch above the measured threshold, keep `F.linear` (the exact path of
`generate`); a few rows may differ from it in the last bits, as any batch shape may.
"""

from __future__ import annotations

import time
from statistics import median

import torch

CANDIDATE_ROWS = (2, 3, 4, 6, 8)
CLEARLY_FASTER = 0.9  # W @ x^T must take at most this fraction of F.linear's time


class SmallBatchLinear(torch.nn.Linear):
    """A frozen `nn.Linear` that multiplies 2 to `transposed_rows` rows as W @ x^T (see the module)."""

    transposed_rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if not 1 < rows <= self.transposed_rows:
            return torch.nn.functional.linear(x, self.weight, self.bias)
        out = torch.mm(self.weight, x.reshape(rows, x.shape[-1]).t()).t().contiguous()  # row-major, as F.linear's:
        if self.bias is not None:  # attention kernels need it (a column-major query sends sdpa to its slow path)
            out += self.bias
        return out.view(*x.shape[:-1], self.out_features)


SAMPLE_BYTES = 64 << 20  # more than a CPU cache holds, so that both forms read the weights from memory
LARGEST_SAMPLED = 16 << 20  # (an LM head of hundreds of MB would make the measurement take seconds)


def use_small_batch_matmuls(model: torch.nn.Module, repeat: int = 3) -> int:
    """Make the model's plain linear layers `SmallBatchLinear` and measure up to how many rows W @ x^T
    pays here, on a sample of its weights (about SAMPLE_BYTES, read as a decoding step reads them).
    Returns that number (0: never)."""
    layers = [module for module in model.modules() if type(module) is torch.nn.Linear
              and module.weight.dtype == torch.float32 and "forward" not in module.__dict__]  # (not a bf16 head)
    for layer in layers:
        layer.__class__ = SmallBatchLinear
    sample, size = [], 0
    for layer in sorted(layers, key=lambda layer: layer.weight.numel(), reverse=True):
        weight_bytes = layer.weight.numel() * layer.weight.element_size()
        if weight_bytes <= LARGEST_SAMPLED and size < SAMPLE_BYTES:
            sample.append(layer.weight)
            size += weight_bytes
    rows = calibrate(sample, repeat) if sample else 0
    for layer in layers:
        layer.transposed_rows = rows
    return rows


def calibrate(weights: list[torch.Tensor], repeat: int) -> int:
    """The largest row count up to which W @ x^T was clearly faster than F.linear at every candidate."""
    best = 0
    with torch.inference_mode():
        for rows in CANDIDATE_ROWS:
            inputs = {w.shape[1]: torch.randn(rows, w.shape[1], dtype=w.dtype, device=w.device) for w in weights}
            plain, transposed = [], []
            for _ in range(repeat):  # interleaved: both forms see the same machine
                plain.append(_seconds(lambda: [torch.nn.functional.linear(inputs[w.shape[1]], w) for w in weights]))
                transposed.append(_seconds(lambda: [torch.mm(w, inputs[w.shape[1]].t()) for w in weights]))
            if median(transposed) > CLEARLY_FASTER * median(plain):
                break
            best = rows
    return best


def _seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
