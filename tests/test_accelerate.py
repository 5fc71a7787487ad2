"""The training CLI runs unchanged under `accelerate launch`: two CPU processes train one adapter, the
main process alone saves it and prints the summary, and the adapter loads afterwards.

On a machine without a GPU, `--multi_gpu --num_processes 2` starts the two processes (torchrun, gloo);
`--cpu` alone would start one."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PAIRS
from models.adapters import read_adapter

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tiny_models, tmp_path):
    data = tmp_path / "pairs.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("source", "target"), *PAIRS])
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps({"models": [{
        "key": "tiny-llama", "hub_id": "tests/tiny-llama", "architecture": "causal",
        "tasks": ["translation"], "local_path": str(tiny_models["tiny-llama"])}]}), encoding="utf-8")
    output = tmp_path / "adapter"
    env = {**os.environ, "LORA_PLAYGROUND_MODELS": str(models_file), "LORA_PLAYGROUND_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "finetune", "train", "--task", "translation",
         "--data", str(data), "--base", "tiny-llama", "--output", str(output), "--preset", "quick",
         "--max-steps", "3", "--batch-size", "2", "--rank", "4", "--precision", "fp32"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert launched.returncode == 0, launched.stderr[-3000:]
    summaries = [line for line in launched.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # one process reports and saves
    summary = json.loads(summaries[0])
    assert summary["adapter"] == str(output) and 0 < summary["trainable_params"] < summary["total_params"]
    assert launched.stdout.count("step 3/3") == 2  # both processes trained every step
    info = read_adapter(output)
    assert (info.task, info.base_model, info.rank) == ("translation", "tiny-llama", 4)
    assert sorted(p.name for p in output.iterdir() if p.name.startswith("adapter_model"))  == ["adapter_model.safetensors"]
