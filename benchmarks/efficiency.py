"""2. Hardware efficiency: useful training FLOP/s as a share of the fp32 matmul peak measured in this run.

FLOPs are counted from the model's shapes and the tokens of the timed epoch (benchmark 1's runs):
with N the base model's parameters outside the embeddings, N_lora the LoRA parameters, T the
real (non-padding) tokens, P the positions the LM head projects (the answer tokens), V x d the
LM head:

    body  4 N T         forward 2N per token, backward to the activations 2N (frozen weights: no weight grads)
    LoRA  6 N_lora T    forward, activations and weight gradients
    head  4 V d P       forward 2Vd, backward to the hidden state 2Vd (tied, frozen embedding)

Attention scores (under 3% at these lengths), norms and activations are not counted, nor is
padding: the figure is the useful work per second. The peak is the best of several fp32
2048 x 2048 matmuls (`torch.matmul`, all threads). The bf16 rows train the same epoch under
`torch.autocast("cpu", torch.bfloat16)` (the Trainer's `bf16=True`), and the dropout rows with
the LoRA dropout of 0.05 that peft examples use (it draws a random mask for every LoRA input, a
large share of a CPU step, which is why our default is 0): what-ifs, compared with the default run.
"""

from __future__ import annotations

import torch

from benchmarks import training
from benchmarks.common import Goal, Row, timings

NAME = "efficiency"
TITLE = "Hardware efficiency (training FLOP/s vs measured matmul peak)"
SIZE = 2048
WHAT_IF = ("translation", "chat")  # also trained in bf16 and with LoRA dropout, for comparison
WHAT_IF_DROPOUT = 0.05


def matmul_peak(dtype: torch.dtype, repeat: int) -> float:
    """Best FLOP/s of a SIZE x SIZE matmul in `dtype`."""
    a, b = torch.randn(SIZE, SIZE).to(dtype), torch.randn(SIZE, SIZE).to(dtype)
    return 2 * SIZE**3 / min(timings(lambda: torch.matmul(a, b), repeat, warmup=2))


def training_flops(run: training.Run) -> float:
    return (4 * run.body_params * run.real_tokens + 6 * run.lora_params * run.real_tokens
            + 4 * run.vocab * run.hidden * run.head_positions)


def run(quick: bool) -> list[Row]:
    repeat = 3 if quick else 10
    peak = matmul_peak(torch.float32, repeat)
    rows = [Row(NAME, f"fp32 matmul peak ({SIZE}x{SIZE}, best of {repeat})", peak / 1e9, "GFLOP/s"),
            Row(NAME, "bf16 matmul peak (AMX when present)", matmul_peak(torch.bfloat16, repeat) / 1e9, "GFLOP/s")]
    for case in training.CASES:
        ours = training.measure(case.task, "ours", quick)
        achieved = training_flops(ours) / ours.seconds
        rows.append(Row(NAME, f"{case.label}: training FLOP/s / fp32 peak", achieved / peak * 100, "%",
                        goal=Goal("ours", ">=", 40), note=f"{achieved / 1e9:.0f} GFLOP/s"))
    for task in WHAT_IF:
        label = next(c.label for c in training.CASES if c.task == task)
        fp32, baseline = training.measure(task, "ours", quick), training.measure(task, "baseline", quick)
        bf16 = training.measure(task, "ours", quick, bf16=True)
        dropout = training.measure(task, "ours", quick, dropout=WHAT_IF_DROPOUT)
        rows += [
            Row(NAME, f"{label}: bf16 autocast, examples/s", bf16.examples_per_s, "ex/s", fp32.examples_per_s,
                note="what-if, baseline = fp32 (the default)"),
            Row(NAME, f"{label}: LoRA dropout {WHAT_IF_DROPOUT} instead of 0, examples/s", dropout.examples_per_s,
                "ex/s", fp32.examples_per_s, note=f"what-if; {dropout.examples_per_s / baseline.examples_per_s:.2f}x "
                f"the course baseline, {training_flops(dropout) / dropout.seconds / peak * 100:.0f}% of peak"),
        ]
    return rows
