"""A class's leaderboard: every adapter published to the class (`models.gallery`) scored on the same rows.

An adapter's own before/after metrics come from its own held-out split, which differs from student to
student, so they cannot be ranked. Here every published adapter of a task, and the bare base it was
trained on, are measured on one test set per class and task: the teacher's upload, or the first
`TaskSpec.class_test_rows` rows of the bundled test split. A score is kept per (test set, adapter
version): publishing a retrained adapter, or the teacher changing the set, scores it again.

Scoring goes through the app's serving (`finetune.served_eval`), like any student's request, in one
background thread, one adapter at a time, under one fair share for the whole class: thirty students
publishing at once wait for their scores, while everyone's chats and translations keep being answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from finetune.data import read_jsonl
from finetune.served_eval import evaluate_served
from models.adapters import adapter_key, sanitize_name
from models.gallery import Entry, GalleryError, class_dir, entries, owner_tag
from models.messages import error_text
from models.tasks import get_task

DATA_DIR = Path(__file__).resolve().parent.parent / "assets" / "data"
SCORED, WAITING, SCORING, FAILED, UNSCORED = "scored", "waiting", "scoring", "failed", "unscored"


@dataclass(frozen=True)
class TestSet:
    """The rows a class's adapters of one task are scored on."""

    task: str
    records: list[dict[str, Any]] = field(repr=False)
    teacher: bool = field(metadata={
        "help": "Uploaded by the class's teacher; else the bundled test split's first rows."})

    @cached_property
    def fingerprint(self) -> str:
        """Changes with the rows, so that a score is never read against another set."""
        return hashlib.sha256(json.dumps(self.records, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Standing:
    """One published adapter on the leaderboard."""

    entry: Entry
    state: str = field(metadata={"help": "scored, waiting, scoring, failed, or unscored (a task with no test set)."})
    before: dict[str, float] | None = field(default=None, metadata={"help": "The bare base on the same rows."})
    after: dict[str, float] | None = field(default=None, metadata={"help": "The adapter on the same rows."})
    place: int | None = field(default=None, metadata={"help": "While waiting: adapters to score before it."})
    error: str = ""

    @property
    def settings(self) -> dict[str, Any]:
        """How it was trained: base, method, rank, steps and training rows, from its metadata."""
        meta = self.entry.info.metadata
        hyper = meta.get("hyperparameters", {})
        return {"base": self.entry.info.base_model, "method": meta.get("method", hyper.get("method", "")),
                "rank": hyper.get("rank"), "steps": meta.get("steps"),
                "examples": meta.get("data", {}).get("train_rows")}


def _teacher_file(code: str, task: str) -> Path:
    return class_dir(code) / "testsets" / f"{sanitize_name(task)}.jsonl"


def test_set(code: str, task: str) -> TestSet | None:
    """The class's set for the task, or None where the task is not scored."""
    spec = get_task(task)
    uploaded = _teacher_file(code, task)
    if uploaded.is_file():
        return _rows(str(uploaded), uploaded.stat().st_mtime_ns, task, None)
    if not spec.class_test_rows:
        return None
    bundled = DATA_DIR / task / "test.jsonl"
    return _rows(str(bundled), bundled.stat().st_mtime_ns, task, spec.class_test_rows)


@lru_cache(maxsize=64)
def _rows(path: str, version: int, task: str, first: int | None) -> TestSet:
    """A set read once per version of its file: every open leaderboard asks for it every few seconds."""
    columns = get_task(task).columns
    records = [{column: row[column] for column in columns} for row in read_jsonl(path)[:first]]
    return TestSet(task, records, teacher=first is None)


def set_test_set(code: str, task: str, records: list[dict[str, Any]] | None, workspace: str) -> TestSet | None:
    """The teacher's rows for the task (None: back to the bundled split). The first browser to set one
    becomes the class's teacher; no other may change it afterwards. Every adapter is scored again."""
    marker = class_dir(code) / "teacher"
    if marker.is_file() and marker.read_text().strip() != owner_tag(workspace):
        raise GalleryError("gallery.not_teacher")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(owner_tag(workspace))
    path = _teacher_file(code, task)
    if records is None:
        path.unlink(missing_ok=True)
    else:
        columns = get_task(task).columns
        _write_atomically(path, "".join(json.dumps({c: r[c] for c in columns}, ensure_ascii=False) + "\n"
                                         for r in records))
    for entry in entries(code, task):
        SCORER.ask(entry)
    return test_set(code, task)


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as sink:
        sink.write(content)
    os.replace(temporary, path)


# ---------------------------------------------------------------------------------------------- scores

def _score_file(code: str, key: str) -> Path:
    return class_dir(code) / "scores" / f"{key}.json"


def _base_key(task: str, base: str, fingerprint: str) -> str:
    return f"base-{sanitize_name(task)}-{hashlib.sha256(base.encode()).hexdigest()[:12]}-{fingerprint}"


def _stored(code: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(_score_file(code, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _adapter_key(entry: Entry, tests: TestSet) -> str:
    """One score per adapter version and test set."""
    return f"{entry.name}-{adapter_key(entry.info)}-{tests.fingerprint}"


def score_entry(entry: Entry) -> None:
    """Measure the base (once per base and set) and the adapter on the class's set, and keep both."""
    tests = test_set(entry.class_code, entry.info.task)
    if tests is None:
        return
    code, task, owner = entry.class_code, entry.info.task, f"class:{entry.class_code}"
    base_key = _base_key(task, entry.info.base_model, tests.fingerprint)
    try:
        if _stored(code, base_key) is None:
            *_, done = evaluate_served(task, tests.records, [None], owner=owner, base=entry.info.base_model)
            _write_atomically(_score_file(code, base_key), json.dumps({"metrics": done.results[0].metrics}))
        *_, done = evaluate_served(task, tests.records, [str(entry.info.path)], owner=owner)
        result: dict[str, Any] = {"metrics": done.results[0].metrics}
    except Exception as error:  # a broken adapter or a base that cannot load: said on its row, not a crash
        result = {"error": error_text(error)}
    _write_atomically(_score_file(code, _adapter_key(entry, tests)), json.dumps(result))


class Scorer:
    """The line of adapters waiting for a score, and the one thread that works through it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line: list[tuple[tuple[str, str, str], Entry]] = []  # (which adapter version, the entry)
        self._current: tuple[str, str, str] | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _identity(entry: Entry) -> tuple[str, str, str]:
        return entry.class_code, entry.name, adapter_key(entry.info)

    def ask(self, entry: Entry) -> None:
        """Put an adapter in line, once; the thread starts with the first."""
        identity = self._identity(entry)
        with self._lock:
            if identity == self._current or any(identity == waiting for waiting, _ in self._line):
                return
            self._line.append((identity, entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="leaderboard-scorer", daemon=True)
                self._thread.start()

    def place(self, entry: Entry) -> int | None:
        """0 while it is being scored, n when n adapters are before it, None when it is not in line."""
        identity = self._identity(entry)
        with self._lock:
            if identity == self._current:
                return 0
            ahead = next((i for i, (waiting, _) in enumerate(self._line) if identity == waiting), None)
            return None if ahead is None else ahead + (self._current is not None)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._line:
                    self._current = self._thread = None
                    return
                self._current, entry = self._line.pop(0)
            try:
                score_entry(entry)
            except FileNotFoundError:  # taken down while it waited
                pass


SCORER = Scorer()


def standings(code: str, task: str) -> tuple[TestSet | None, list[Standing]]:
    """The class's set for the task and its published adapters, best first by the task's primary metric
    (those still to be scored after); an adapter without a score for this set is put in line."""
    tests = test_set(code, task)
    metric = get_task(task).primary_metric
    rows = []
    for entry in entries(code, task):
        if tests is None:
            rows.append(Standing(entry, UNSCORED))
            continue
        stored = _stored(code, _adapter_key(entry, tests))
        base = _stored(code, _base_key(task, entry.info.base_model, tests.fingerprint))
        if stored is None:
            SCORER.ask(entry)
            place = SCORER.place(entry)
            rows.append(Standing(entry, SCORING if place == 0 else WAITING, place=place))
        elif "error" in stored:
            rows.append(Standing(entry, FAILED, error=stored["error"]))
        else:
            rows.append(Standing(entry, SCORED, (base or {}).get("metrics"), stored["metrics"]))
    # Every scored metric (accuracy, chrF, ROUGE) is higher-is-better.
    rows.sort(key=lambda row: (row.state != SCORED, -(row.after or {}).get(metric, 0.0)))
    return tests, rows


def score_soon(entry: Entry) -> None:
    """Put a just-published adapter in line for its score (a task with no test set has none)."""
    if test_set(entry.class_code, entry.info.task) is not None:
        SCORER.ask(entry)
