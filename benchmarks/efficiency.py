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
2048 x 2048 matmuls (`torch.matmul`, all threads), the goal's yardstick, timed here and again
after each training run of benchmark 1 (a shared host's speed drifts: the best of all of them is
this machine's ceiling during the run, so a slow moment cannot flatter the share); where our path trains
the frozen base in bf16 (benchmark 1), the note also gives the share of the bf16 peak measured
the same way, and a what-if row the fp32 run's share of the fp32 peak. The dropout rows train
with the LoRA dropout of 0.05 that peft examples use (it draws a random mask for every LoRA
input, a large share of a CPU step, which is why our default is 0), compared with the default run.
"""

from __future__ import annotations

import torch

from benchmarks import training
from benchmarks.common import MATMUL_SIZE, Goal, Row, matmul_peak

NAME = "efficiency"
TITLE = "Hardware efficiency (training FLOP/s vs measured matmul peak)"
WHAT_IF = ("chat",)  # also trained with LoRA dropout, for comparison
WHAT_IF_DROPOUT = 0.05


def training_flops(run: training.Run) -> float:
    return (4 * run.body_params * run.real_tokens + 6 * run.lora_params * run.real_tokens
            + 4 * run.vocab * run.hidden * run.head_positions)


def run(quick: bool) -> list[Row]:
    from finetune.precision import resolve_precision

    precision = resolve_precision("auto")  # what our path trains in on this machine
    runs = {case.task: training.measure(case.task, "ours", quick) for case in training.CASES}
    fp32_runs = {case.task: training.measure(case.task, "ours", quick, precision="fp32")
                 for case in training.CASES if precision == "bf16"}
    dropout_runs = {task: training.measure(task, "ours", quick, dropout=WHAT_IF_DROPOUT) for task in WHAT_IF}
    repeat = 3 if quick else 10  # the peaks last, so that every run's samples count
    peaks = {dtype: max(matmul_peak(dtype, repeat), *samples) for dtype, samples in training.PEAKS.items()}
    peak, bf16_peak = peaks[torch.float32], peaks.get(torch.bfloat16)
    rows = [Row(NAME, f"fp32 matmul peak ({MATMUL_SIZE}x{MATMUL_SIZE}, best of {len(training.PEAKS[torch.float32]) + 1} "
                      "timings)", peak / 1e9, "GFLOP/s")]
    if bf16_peak is not None:
        rows.append(Row(NAME, "bf16 matmul peak (AMX when present)", bf16_peak / 1e9, "GFLOP/s"))
    for case in training.CASES:
        achieved = training_flops(runs[case.task]) / runs[case.task].seconds
        note = f"{achieved / 1e9:.0f} GFLOP/s" + (
            f"; bf16 base weights: {achieved / bf16_peak * 100:.0f}% of the bf16 peak" if bf16_peak and precision == "bf16"
            else "")
        rows.append(Row(NAME, f"{case.label}: training FLOP/s / fp32 peak", achieved / peak * 100, "%",
                        goal=Goal("ours", ">=", 40), note=note))
        if case.task in fp32_runs:
            fp32 = fp32_runs[case.task]
            rows.append(Row(NAME, f"{case.label}: training FLOP/s / fp32 peak, ours in fp32",
                            training_flops(fp32) / fp32.seconds / peak * 100, "%", note="what-if: precision=fp32"))
    for task, dropout in dropout_runs.items():
        label = next(c.label for c in training.CASES if c.task == task)
        default, baseline = runs[task], training.measure(task, "baseline", quick)
        rows.append(Row(NAME, f"{label}: LoRA dropout {WHAT_IF_DROPOUT} instead of 0, examples/s",
                        dropout.examples_per_s, "ex/s", default.examples_per_s,
                        note=f"what-if; {dropout.examples_per_s / baseline.examples_per_s:.2f}x the course baseline, "
                             f"{training_flops(dropout) / dropout.seconds / peak * 100:.0f}% of the fp32 peak"))
    return rows
