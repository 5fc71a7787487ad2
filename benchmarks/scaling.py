"""7. Scaling: training time against data size (MiniLM sentiment, 2 epochs, the recipe's `train()`).

The same recipe trains on the first 50, 200 and 800 of one random draw of training reviews;
`train_seconds` is the Trainer's own run (LoRA attach and start-up included, model load and
evaluation not). Linear growth means a constant time per example: the goal is that 800
examples cost at most 1.25x per example what 200 do (50 carries the fixed start-up cost, shown
for information). A short untimed run first warms the kernels.
"""

from __future__ import annotations

from benchmarks.common import Goal, Row, records, release_memory

NAME = "scaling"
TITLE = "Scaling with data size (linear growth)"
SIZES = (50, 200, 800)
QUICK_SIZES = (16, 32, 64)
EPOCHS = 2


def train_seconds(data: list[dict]) -> float:
    from finetune.config import make_config
    from finetune.recipe import LoRARecipe

    recipe = LoRARecipe(make_config("sentiment", "balanced", epochs=EPOCHS), data, validation_records=[])
    recipe.setup()
    recipe.train()
    return recipe.train_seconds


def run(quick: bool) -> list[Row]:
    sizes = QUICK_SIZES if quick else SIZES
    data = records("sentiment", "sentiment/train.jsonl", max(sizes), seed=1)
    train_seconds(data[:16])  # warm-up
    per_example = {n: train_seconds(data[:n]) / (n * EPOCHS) * 1000 for n in sizes}
    release_memory()
    small, middle, large = sizes
    rows = [Row(NAME, f"{n} examples x {EPOCHS} epochs: time per example", per_example[n], "ms",
                note=f"{per_example[n] * n * EPOCHS / 1000:.1f} s in all") for n in sizes]
    rows += [
        Row(NAME, f"per-example time, {large} vs {middle} examples", per_example[large], "ms", per_example[middle],
            Goal("ratio", "<=", 1.25), "ratio 1 = perfectly linear"),
        Row(NAME, f"per-example time, {large} vs {small} examples", per_example[large], "ms", per_example[small],
            note="below 1: fixed start-up cost spread over more examples"),
    ]
    return rows
