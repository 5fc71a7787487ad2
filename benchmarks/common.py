"""What every benchmark shares: result rows with goals, timing helpers, the machine, data and adapters."""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import shutil
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "assets" / "data"


# ---------------------------------------------------------------- results

@dataclass(frozen=True)
class Goal:
    """A threshold on the row's ratio (ours/baseline) or on its own value."""

    on: str  # "ratio" or "ours"
    op: str  # ">=" or "<="
    threshold: float

    def describe(self) -> str:
        return f"{'ours/baseline' if self.on == 'ratio' else 'ours'} {self.op} {self.threshold:g}"

    def verdict(self, row: "Row") -> tuple[bool, str]:
        value = row.ratio if self.on == "ratio" else row.ours
        if value is None:
            return False, "not measured"
        met = value >= self.threshold if self.op == ">=" else value <= self.threshold
        if met:
            return True, "met"
        gap = abs(value - self.threshold) / self.threshold * 100
        return False, f"MISSED by {gap:.0f}% ({'short' if self.op == '>=' else 'over'}: {value:.3g})"


@dataclass
class Row:
    """One measured number, its baseline from the same run (if any), and its goal (if any)."""

    benchmark: str
    metric: str
    ours: float
    unit: str
    baseline: float | None = None
    goal: Goal | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline else None

    def cells(self) -> list[str]:
        verdict = self.goal.verdict(self)[1] if self.goal else ""
        return [self.metric, number(self.ours, self.unit),
                number(self.baseline, self.unit) if self.baseline is not None else "",
                f"{self.ratio:.3g}x" if self.ratio is not None else "",
                self.goal.describe() if self.goal else "", verdict, self.note]


HEADER = ["metric", "ours", "baseline", "ours/baseline", "goal", "result", "note"]


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(rows: list[Row]) -> str:
    """A Markdown table (also readable as plain text)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- timing

@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed:` ... `elapsed()` is the seconds since the block began (frozen at its end)."""
    started = time.perf_counter()
    ended: list[float] = []
    yield lambda: (ended[0] if ended else time.perf_counter()) - started
    ended.append(time.perf_counter())


def timings(call: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `repeat` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeat):
        with stopwatch() as elapsed:
            call()
        times.append(elapsed())
    return times


MATMUL_SIZE = 2048


def matmul_peak(dtype: Any, repeat: int) -> float:
    """Best FLOP/s of a MATMUL_SIZE x MATMUL_SIZE matmul in `dtype` (a torch dtype), all threads."""
    import torch

    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE).to(dtype), torch.randn(MATMUL_SIZE, MATMUL_SIZE).to(dtype)
    return 2 * MATMUL_SIZE**3 / min(timings(lambda: torch.matmul(a, b), repeat, warmup=2))


def native_bf16() -> bool:
    """Whether this machine multiplies bf16 in hardware (a GPU with bf16, a CPU with AMX or AVX-512 BF16)."""
    from finetune.precision import resolve_precision

    return resolve_precision("auto") == "bf16"


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the two nearest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


def release_memory() -> None:
    """Forget every loaded base and collect, so one benchmark's models do not weigh on the next."""
    from models.loading import forget_loaded

    forget_loaded()
    gc.collect()
    like_a_server()


def like_a_server() -> None:
    """Hand back this thread's OpenMP threads, as the app does after loading: requests are then
    computed on the batcher's thread at full speed (see `models.batching.release_openmp_threads`)."""
    from models.batching import release_openmp_threads

    release_openmp_threads()


# ---------------------------------------------------------------- machine

def machine() -> dict[str, str]:
    import peft
    import torch
    import transformers

    cpu = "unknown"
    flags: set[str] = set()
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    with open("/proc/meminfo", encoding="utf-8") as handle:
        ram_kib = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
    features = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags)
    return {
        "CPU": f"{cpu} ({features})",
        "cores": f"{len(os.sched_getaffinity(0))} usable ({os.cpu_count()} online); torch threads {torch.get_num_threads()}",
        "RAM": f"{ram_kib / 2**20:.1f} GiB",
        "GPU": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU run)",
        "versions": f"python {platform.python_version()}, torch {torch.__version__}, "
                    f"transformers {transformers.__version__}, peft {peft.__version__}",
    }


def cpu_busy_note() -> str:
    """A warning when other processes were using the CPU (numbers would read low)."""
    load = os.getloadavg()[0]
    return f"1-minute load average before the run: {load:.2f}"


# ---------------------------------------------------------------- data and adapters

def records(task: str, relative: str, count: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Records of a data file (chat prompt/response become messages), `count` of them drawn at random."""
    from finetune.reproduce import _load

    rows = _load(task, relative)
    return random.Random(seed).sample(rows, count) if count is not None else rows


def texts_of_words(task_file: str, field: str, words: int, count: int) -> list[str]:
    """`count` texts from a data file whose length is closest to `words` words (typical inputs)."""
    rows = [json.loads(line)[field] for line in (DATA / task_file).read_text(encoding="utf-8").splitlines() if line]
    return sorted(rows, key=lambda text: (abs(len(text.split()) - words), text))[:count]


def shipped_adapter(name: str) -> Path | None:
    from models.adapters import SHIPPED_DIR

    folder = SHIPPED_DIR / name
    return folder if (folder / "adapter_model.safetensors").is_file() else None


def adapter_variant(source: Path, destination: Path, scale: float) -> Path:
    """A copy of an adapter with its LoRA B matrices multiplied by `scale`: another adapter, same quality."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, destination, dirs_exist_ok=True)
    weights = load_file(str(source / "adapter_model.safetensors"))
    save_file({k: v * scale if "lora_B" in k else v for k, v in weights.items()},
              str(destination / "adapter_model.safetensors"))
    return destination


def fresh_adapter(base: str, task: str, destination: Path, rank: int = 16) -> Path:
    """A freshly initialised LoRA (B = 0, so it answers like the base with the zero-shot prompt)."""
    from peft import LoraConfig, get_peft_model

    from finetune.recipe import _TASK_TYPES
    from models.adapters import METADATA_FILE
    from models.loading import load_pretrained
    from models.registry import get_spec

    spec = get_spec(base)
    model, _ = load_pretrained(spec)
    model = get_peft_model(model, LoraConfig(task_type=_TASK_TYPES[spec.architecture], r=rank, lora_alpha=2 * rank,
                                             target_modules="all-linear"))
    model.save_pretrained(destination, safe_serialization=True, save_embedding_layers=False)
    (destination / METADATA_FILE).write_text(json.dumps(
        {"name": destination.name, "task": task, "base_model": spec.key, "method": "lora",
         "hyperparameters": {"rank": rank}}))
    return destination
