"""Faults (issue #7, RELIABILITY.md): a training worker killed mid-run, a save interrupted at every
step (by an exception, or by SIGKILL so no clean-up code runs), and a restart.

The promise: an adapter folder is always the old version or the new one, never half of either, and
nothing half-written stays behind once the library is next read.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import models.adapters as adapters
from conftest import adapter_files, make_adapter
from models.adapters import list_adapters, read_adapter, recover_interrupted_saves, workspace_dir

WORKSPACE = "faults"
RECORDS = [{"text": f"{word} film, number {i}", "label": label} for i in range(8)
           for word, label in (("a great, happy", "positive"), ("an awful, boring", "negative"))]


@pytest.fixture(scope="module")
def versions(tiny_models, tmp_path_factory) -> tuple[Path, Path]:
    """Two different adapters for the same base: the 'old' and the 'new' content of one folder."""
    root = tmp_path_factory.mktemp("versions")
    return (make_adapter("tiny-llama", "translation", root / "old", seed=41),
            make_adapter("tiny-llama", "translation", root / "new", seed=42))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def copier(source: Path) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        for item in sorted(source.iterdir()):
            shutil.copy(item, folder / item.name)
    return write


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ a worker killed mid-run


def test_a_killed_worker_fails_its_job_keeps_the_old_adapter_and_leaves_nothing(tiny_models, versions):
    """Retraining 'keep' is killed mid-run: the job fails with a clear message, the earlier 'keep' is
    untouched, a temporary folder a killed save left is tidied at once, and the next job runs."""
    from finetune.config import make_config
    from finetune.jobs import DONE, FAILED, JobQueue

    library = workspace_dir(WORKSPACE)
    shutil.copytree(versions[0], library / "keep", dirs_exist_ok=True)
    before = adapter_files(library / "keep")
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now: a dead worker's
    (library / f".keep.tmp-{gone.pid}-x1y2").mkdir()

    def config(**overrides: Any):
        return make_config("sentiment", "quick", base="tiny-bert", max_length=16, eval_limit=4, **overrides)

    queue = JobQueue()
    try:
        doomed = queue.submit(config(max_steps=100_000, epochs=100), RECORDS, WORKSPACE, "keep")
        following = queue.submit(config(max_steps=1), RECORDS, WORKSPACE, "after")
        running = wait_until(lambda: (job := queue.get(doomed.id)).progress.step >= 1 and job, 240, "a training step")
        os.kill(running.pid, signal.SIGKILL)

        failed = queue.wait(doomed.id, 60)
        assert failed.state == FAILED
        assert failed.error.startswith("The training process was killed (signal 9) before finishing; nothing was saved.")
        assert adapter_files(library / "keep") == before  # the old version, untouched
        assert [name for name in leftovers(library) if name.startswith(".keep.")] == []  # tidied at once
        assert queue.wait(following.id, 240).state == DONE  # the next job runs
        assert read_adapter(library / "after").task == "sentiment" and leftovers(library) == []
    finally:
        queue.close()


# ------------------------------------------------------------------ a save interrupted by an exception


class Boom(RuntimeError):
    pass


def fail(*_: Any) -> None:
    raise Boom("interrupted")


def rename_failing_at(call: int) -> Callable[..., Any]:
    """Path.rename that fails on its `call`-th use (1: moving the old folder aside, 2: the new one in)."""
    real, calls = Path.rename, []

    def rename(self: Path, target: Any) -> Any:
        calls.append(self)
        if len(calls) == call:
            raise Boom("interrupted")
        return real(self, target)
    return rename


INTERRUPTIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "while-writing": lambda patch: None,  # the write function itself fails (see the test)
    "while-validating": lambda patch: patch.setattr(adapters, "read_adapter", fail),
    "at-the-atomic-swap": lambda patch: patch.setattr(adapters, "_exchange", fail),
    "moving-the-old-aside": lambda patch: (patch.setattr(adapters, "_exchange", lambda a, b: False),
                                           patch.setattr(Path, "rename", rename_failing_at(1))),
    "moving-the-new-in": lambda patch: (patch.setattr(adapters, "_exchange", lambda a, b: False),
                                        patch.setattr(Path, "rename", rename_failing_at(2))),
}


@pytest.mark.parametrize("point", list(INTERRUPTIONS))
def test_a_save_that_fails_at_any_point_leaves_the_old_version(point, versions, tmp_path, monkeypatch):
    destination = tmp_path / "library" / "adapter"
    shutil.copytree(versions[0], destination)
    old = adapter_files(destination)
    write = copier(versions[1])
    if point == "while-writing":
        def write(folder: Path) -> None:  # noqa: F811 - half the files, then the failure
            shutil.copy(versions[1] / "adapter_model.safetensors", folder)
            fail()
    INTERRUPTIONS[point](monkeypatch)

    with pytest.raises(Boom):
        adapters.save_adapter_atomically(write, destination)
    monkeypatch.undo()

    assert adapter_files(destination) == old
    assert leftovers(destination.parent) == []
    adapters.save_adapter_atomically(copier(versions[1]), destination)  # and the next save works
    assert adapter_files(destination) == adapter_files(versions[1])


# ------------------------------------------------------------------ a save killed (SIGKILL) at any point


def save_and_hang(point: str, source: str, destination: str, marker: str) -> None:
    """In a child process: save `source` over `destination`, stopping dead at `point` to be killed."""
    def hang(*_: Any) -> None:
        Path(marker).write_text(point)
        time.sleep(600)

    def write(folder: Path) -> None:
        copier(Path(source))(folder)
        if point == "while-writing":
            hang()

    if point == "while-validating":
        adapters.read_adapter = hang
    elif point == "before-the-swap":
        adapters._exchange = hang
    elif point == "after-the-swap":
        exchange = adapters._exchange
        adapters._exchange = lambda a, b: exchange(a, b) and hang()
    elif point in ("old-moved-aside", "new-moved-in"):  # the two-rename fallback for systems without renameat2
        adapters._exchange = lambda a, b: False
        real, calls = Path.rename, []

        def rename(self: Path, target: Any) -> Any:
            calls.append(self)
            result = real(self, target)
            if len(calls) == (1 if point == "old-moved-aside" else 2):
                hang()
            return result
        Path.rename = rename  # type: ignore[method-assign]
    adapters.save_adapter_atomically(write, Path(destination))


# point -> what the folder holds right after the kill (None: nothing) and after the library is read again
KILLS = {"while-writing": ("old", "old"), "while-validating": ("old", "old"), "before-the-swap": ("old", "old"),
         "after-the-swap": ("new", "new"), "old-moved-aside": (None, "old"), "new-moved-in": ("new", "new")}


@pytest.mark.parametrize("point", list(KILLS))
def test_a_save_killed_at_any_point_leaves_old_or_new(point, versions, tmp_path):
    destination = tmp_path / "library" / "adapter"
    shutil.copytree(versions[0], destination)
    contents = {"old": adapter_files(versions[0]), "new": adapter_files(versions[1]), None: None}
    marker = tmp_path / "hanging"
    child = multiprocessing.get_context("spawn").Process(
        target=save_and_hang, args=(point, str(versions[1]), str(destination), str(marker)))
    child.start()
    try:
        wait_until(marker.exists, 120, f"the child to reach {point}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    right_after, once_read = KILLS[point]

    assert (adapter_files(destination) if destination.exists() else None) == contents[right_after]
    recover_interrupted_saves(destination.parent)  # what reading a workspace does first
    assert adapter_files(destination) == contents[once_read]
    assert leftovers(destination.parent) == []
    assert read_adapter(destination).name == "adapter"


def test_a_save_still_running_in_another_process_is_left_alone(versions, tmp_path):
    """Tidying must not touch the temporary folder of a save that is still going on."""
    destination = tmp_path / "library" / "adapter"
    marker = tmp_path / "hanging"
    child = multiprocessing.get_context("spawn").Process(
        target=save_and_hang, args=("while-validating", str(versions[1]), str(destination), str(marker)))
    child.start()
    try:
        wait_until(marker.exists, 120, "the child to start saving")
        in_progress = leftovers(destination.parent)
        recover_interrupted_saves(destination.parent)
        assert leftovers(destination.parent) == in_progress and len(in_progress) == 1
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    recover_interrupted_saves(destination.parent)
    assert leftovers(destination.parent) == [] and not destination.exists()


# ------------------------------------------------------------------ restart


def test_a_restart_keeps_every_saved_adapter_and_the_browser_secret(versions, tiny_models):
    """A new process (the app started again) lists the same adapters and decrypts the same browser
    state. Jobs live in memory: a restarted app has none, the adapters they saved remain."""
    from finetune.jobs import JobQueue
    from ui.common import browser_secret

    library = workspace_dir("restart")
    for name, source in (("first", versions[0]), ("second", versions[1])):
        adapters.save_adapter_atomically(copier(source), library / name)
    adapters.save_adapter_atomically(copier(versions[0]), library / "second")  # replaced once
    here = sorted(info.name for info in list_adapters(None, "restart") if not info.shipped)
    program = ("import json; from models.adapters import list_adapters; from ui.common import browser_secret; "
               "print(json.dumps([sorted(i.name for i in list_adapters(None, 'restart') if not i.shipped), "
               "browser_secret()]))")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1], env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    names, secret = json.loads(result.stdout.strip().splitlines()[-1])

    assert here == names == ["first", "second"]
    assert secret == browser_secret()
    assert adapter_files(library / "second") == adapter_files(versions[0])
    queue = JobQueue()
    try:
        assert queue.jobs() == [] and queue.latest("restart") is None
    finally:
        queue.close()


# ------------------------------------------------------------------ waiting under load


def test_a_chat_reply_that_waits_long_for_the_model_still_arrives(tiny_models, monkeypatch):
    """Under load a chat request can wait long for the base's lock (a reader once gave up after a fixed
    300 s: a bare error for the client, the generation still run later for nobody). It waits for as
    long as it takes."""
    import threading

    from models import inference
    from models.loading import load_base

    expected = list(inference.chat("Hello!", base="tiny-llama"))[-1]
    loaded = load_base("tiny-llama")
    replies: list[str] = []
    with loaded.lock:  # another request is generating
        reader = threading.Thread(target=lambda: replies.extend(inference.chat("Hello!", base="tiny-llama")))
        reader.start()
        time.sleep(0.5)
        assert reader.is_alive() and replies == []
    reader.join(60)
    assert replies and replies[-1] == expected
