"""6. Start-up time and memory: a new process until every tab's model is ready.

A child process (`python -m benchmarks.startup --child`) imports `app` when app.py exists, then
loads every default base model and attaches every shipped adapter (`models.inference.resolve_target`,
what the tabs do on first use). Memory is the child's resident set after it has also read every
weight once (safetensors are memory-mapped, so pages count only once a request touches them). The time runs from just
before the process is spawned to the moment everything is loaded, so it includes the Python
start and the imports. First start: an empty LORA_PLAYGROUND_HOME, so the packaged GGUF weights
are dequantized and cached, once per machine (about two minutes on a 2-core CPU, in no goal:
`python -m benchmarks.startup --first-start` measures it); cached start: the usual cache folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Goal, Row

NAME = "startup"
TITLE = "Start-up and memory"
TIMEOUT_S = 600


def child() -> None:
    import importlib

    stages: dict[str, float] = {}
    began = time.time()
    app = (ROOT / "app.py").exists()
    if app:
        sys.path.insert(0, str(ROOT))
        importlib.import_module("app")
    from models.adapters import list_adapters
    from models.inference import resolve_target
    from models.registry import DEFAULT_BASE

    stages["imports"] = time.time() - began
    for task, base in DEFAULT_BASE.items():
        began = time.time()
        resolve_target(task, base=base)
        stages[base] = stages.get(base, 0.0) + time.time() - began
    for info in list_adapters(workspace=None):
        began = time.time()
        resolve_target(info.task, str(info.path))
        stages[f"adapter {info.name}"] = time.time() - began
    ready = time.time()
    at_ready = _memory()
    from models.loading import loaded_bases

    for loaded in loaded_bases():  # weights are memory-mapped: read each once, as first requests do
        for parameter in loaded.model.parameters():
            float(parameter.detach().sum())
    print(json.dumps({"ready": ready, "stages": stages, "app": app, "rss_at_ready": at_ready["VmRSS"],
                      "rss": _memory()["VmRSS"], "peak": _memory()["VmHWM"]}))


def _memory() -> dict[str, int]:
    """VmRSS / VmHWM of this process, in bytes."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return {key: int(value.split()[0]) * 1024 for key, _, value in (line.partition(":") for line in lines)
            if key in ("VmRSS", "VmHWM")}


def start(home: str | None) -> dict:
    """Spawn the child; its report plus `seconds` from spawn to ready."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if home is not None:
        env["LORA_PLAYGROUND_HOME"] = home
    spawned = time.time()
    done = subprocess.run([sys.executable, "-m", "benchmarks.startup", "--child"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"start-up child failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**report, "seconds": report["ready"] - spawned}


def _stages(report: dict) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report["stages"].items())


def first_start() -> Row:
    with tempfile.TemporaryDirectory(prefix="lora-playground-home-") as home:
        first = start(home)
    return Row(NAME, "first start (empty cache: dequantize GGUF)", first["seconds"], "s", note=_stages(first))


def run(quick: bool) -> list[Row]:
    cached = start(None)
    label = "app import + " if cached["app"] else ""
    return [
        Row(NAME, f"cached start ({label}all default bases + shipped adapters)", cached["seconds"], "s",
            goal=Goal("ours", "<=", 10), note=_stages(cached)),
        Row(NAME, "resident memory, everything loaded and every weight read once (RSS)", cached["rss"] / 2**30,
            "GiB", goal=Goal("ours", "<=", 2.5),
            note=f"{cached['rss_at_ready'] / 2**30:.2f} GiB right after loading (weights memory-mapped); "
                 f"peak {cached['peak'] / 2**30:.2f} GiB"),
    ]


if __name__ == "__main__" and "--child" in sys.argv:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    child()
elif __name__ == "__main__" and "--first-start" in sys.argv:
    from benchmarks.common import table

    print(table([first_start()]))
