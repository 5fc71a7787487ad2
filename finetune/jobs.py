"""Training jobs: run one at a time, each in its own worker process, the rest wait in line.

Why a process: a job holds its own copy of a model and trains for minutes. In a separate
process a crash, an out-of-memory kill or a hang cannot take the app down, and the app stays
free to answer polls and Stop. The "spawn" start method gives the worker a fresh interpreter
(nothing inherited from the app's threads, locks or torch state).

The worker sends `Progress` snapshots through a multiprocessing queue; the parent keeps the
latest one per job, and the UI polls `JobQueue.get`. A finished job's timings go into the queue's
`SpeedBook`, so that the next estimates use what this machine measured (`finetune.speeds`).
Stop sets a multiprocessing event that the recipe checks after every step. A worker that dies
marks its job failed and the next job starts.

Answering people comes first: the worker runs at a lower CPU priority, and while the app's engines
have requests (`models.activity`, forwarded through another event) it pauses between steps, for at
most a few of its own step times each time, so that a job still finishes under a steady load.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import finetune.catalogue  # noqa: F401  (the words of the messages below)
from finetune.config import TrainConfig
from finetune.progress import Progress
from finetune.speeds import Estimate, SpeedBook
from models import activity
from models.adapters import recover_interrupted_saves, sanitize_name, workspace_dir
from models.messages import LocalizedError, Message, say
from models.registry import DEFAULT_BASE, get_spec

WAITING, RUNNING, DONE, CANCELLED, FAILED = "queued", "running", "done", "cancelled", "failed"
FINISHED = (DONE, CANCELLED, FAILED)
# A worker asked to stop gets this long to finish its step before it is killed.
CANCEL_GRACE_S = 30.0
# Training runs at a lower CPU priority than the app: on a 2-core machine the people waiting for an
# answer come first, and an otherwise idle machine still trains at full speed (RELIABILITY.md, load test).
WORKER_NICENESS = 10


class JobLimitError(LocalizedError, RuntimeError):
    """The workspace already has as many jobs waiting or running as it may."""


@dataclass
class Job:
    """One training job as the app sees it. `JobQueue` hands out copies: changing one changes nothing."""

    id: str
    workspace: str
    task: str
    config: TrainConfig
    name: str | None  # adapter folder in the workspace; None = train and measure without saving
    kind: str = "train"  # lets a tab find its own jobs ("train", "learn")
    state: str = WAITING  # queued, running, done, cancelled, failed
    position: int | None = None  # 0 = running, n = n-th in line, None = finished
    progress: Progress = field(default_factory=Progress)
    error: str = ""
    result: dict[str, Any] | None = None  # the adapter metadata (metrics, samples) when done
    adapter_path: str | None = None
    pid: int | None = None
    submitted: float = field(default_factory=time.time)
    estimate: Estimate | None = None  # how long it should take, part by part (`SpeedBook.estimate`)
    starts_in_s: float | None = None  # while it waits: about when it starts (the jobs ahead's estimates)
    started: float | None = None  # time.monotonic() when its worker started

    @property
    def active(self) -> bool:
        return self.state not in FINISHED

    @property
    def estimated_s(self) -> float:
        return self.estimate.total_s if self.estimate else 0.0


@dataclass
class _Worker:
    """The parent's handle on the running job's process."""

    job: Job
    process: Any
    results: Any
    cancel: Any
    stop_requested: float | None = None


def _work(payload: dict[str, Any], results: Any, cancel: Any, inference_busy: Any) -> None:
    """The worker process: train, then report how it ended. Runs in a fresh interpreter."""
    from finetune.recipe import GiveWay, LoRARecipe, TrainingCancelled
    from models.registry import register

    os.nice(WORKER_NICENESS)
    register(payload["spec"])  # the parent may know models (tests, local folders) this process does not

    def report(progress: Progress) -> None:
        results.put(("progress", asdict(progress)))

    try:
        recipe = LoRARecipe(payload["config"], payload["records"], payload["validation"], report=report,
                            cancel=cancel, data_summary=payload["data_summary"], give_way=GiveWay(inference_busy))
        destination = payload["destination"]
        outcome: tuple[str, Any] = ("done", recipe.run(Path(destination) if destination else None))
    except TrainingCancelled:
        outcome = ("cancelled", "")
    except LocalizedError as error:  # a message for the user, in the page's language
        outcome = ("failed", error.message)
    except Exception as error:  # any failure becomes a message for the user, not a dead worker
        outcome = ("failed", f"{type(error).__name__}: {error}")
    results.put(outcome)
    results.close()
    results.join_thread()  # deliver everything before the process exits


class JobQueue:
    """Runs submitted jobs one at a time in worker processes, in order of submission.

    `max_active_per_workspace` (demo mode: 1) refuses a job while its workspace already has that
    many waiting or running. `speeds` keeps what finished jobs measured (default: in the cache folder)."""

    def __init__(self, max_active_per_workspace: int | None = None, start_method: str = "spawn",
                 speeds: SpeedBook | None = None):
        self.max_active_per_workspace = max_active_per_workspace
        self.speeds = speeds or SpeedBook()
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._jobs: dict[str, Job] = {}
        self._payloads: dict[str, dict[str, Any]] = {}
        self._waiting: deque[str] = deque()
        self._worker: _Worker | None = None
        self._closed = False
        self._inference_busy = self._context.Event()  # set while the app's engines answer requests
        self._stop_listening = activity.listen(lambda busy: self._inference_busy.set() if busy
                                               else self._inference_busy.clear())
        self._supervisor = threading.Thread(target=self._supervise, name="job-queue", daemon=True)
        self._supervisor.start()

    # ------------------------------------------------------------------ public API

    def submit(self, config: TrainConfig, records: list[dict[str, Any]], workspace: str, name: str | None = None,
               validation: list[dict[str, Any]] | None = None, data_summary: dict[str, Any] | None = None,
               kind: str = "train") -> Job:
        """Queue a job; it saves its adapter as `workspace_dir(workspace)/name` (no name: nothing saved).

        The base model's spec travels with the job, so models registered only in this process
        (tests, local folders) work in the worker too."""
        spec = get_spec(config.base or DEFAULT_BASE[config.task])
        config = replace(config, base=spec.key).validate()
        destination = workspace_dir(workspace) / sanitize_name(name) if name else None
        with self._lock:
            if self._closed:
                raise RuntimeError("The job queue is closed.")
            active = [j for j in self._jobs.values() if j.workspace == workspace and j.active]
            if self.max_active_per_workspace is not None and len(active) >= self.max_active_per_workspace:
                raise JobLimitError("job.limit", count=len(active))
            job = Job(uuid.uuid4().hex[:12], workspace, config.task, config,
                      destination.name if destination else None, kind,
                      estimate=self.speeds.estimate(config, len(records),
                                                    None if validation is None else len(validation)))
            self._jobs[job.id] = job
            self._payloads[job.id] = {
                "spec": spec, "config": config, "records": list(records), "validation": validation,
                "data_summary": data_summary or {}, "destination": str(destination) if destination else None,
            }
            self._waiting.append(job.id)
            self._renumber()
            snapshot = self._snapshot(job)
        self._wake.set()
        return snapshot

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return self._snapshot(job) if job else None

    def latest(self, workspace: str, kind: str | None = None) -> Job | None:
        """The workspace's most recent job (of a kind): what a reloaded page shows again."""
        return next(iter(self.jobs(workspace, kind)[::-1]), None)

    def jobs(self, workspace: str | None = None, kind: str | None = None) -> list[Job]:
        """Copies of all jobs (of a workspace, of a kind), oldest first."""
        with self._lock:
            return [self._snapshot(j) for j in self._jobs.values()
                    if (workspace is None or j.workspace == workspace) and (kind is None or j.kind == kind)]

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a waiting one leaves the line, a running one stops after its current step.
        Returns False when the job is unknown or already finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return False
            if job.state == WAITING:
                self._waiting.remove(job_id)
                self._payloads.pop(job_id, None)
                self._conclude(job, CANCELLED, say("job.stopped_waiting"))
                self._renumber()
            elif self._worker is not None and self._worker.job is job and self._worker.stop_requested is None:
                self._worker.cancel.set()
                self._worker.stop_requested = time.monotonic()
                job.progress.tell(job.progress.status, say("job.stopping"))
        return True

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (or the timeout passes); returns its latest copy."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if not job.active or (deadline is not None and time.monotonic() > deadline):
                return job
            time.sleep(0.1)

    def close(self) -> None:
        """Stop accepting jobs and end the running worker (used when the app shuts down)."""
        self._stop_listening()
        with self._lock:
            self._closed = True
            worker = self._worker
        self._wake.set()
        if worker is not None:
            worker.process.kill()
        self._supervisor.join(timeout=10)

    # ------------------------------------------------------------------ supervisor thread

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                if self._worker is None and self._waiting:
                    self._start(self._waiting.popleft())
                worker = self._worker
            if worker is None:
                self._wake.wait(0.5)
                self._wake.clear()
            else:
                self._pump(worker)

    def _start(self, job_id: str) -> None:
        """Start a worker for a job (called with the lock held)."""
        job = self._jobs[job_id]
        payload = self._payloads.pop(job_id)
        results, cancel = self._context.Queue(), self._context.Event()
        process = self._context.Process(target=_work, args=(payload, results, cancel, self._inference_busy),
                                        name=f"train-{job_id}", daemon=True)
        job.state, job.progress = RUNNING, Progress()
        job.progress.tell("loading", say("job.starting"))
        try:
            process.start()
        except Exception as error:  # e.g. out of memory or processes: the job fails, the queue goes on
            self._conclude(job, FAILED, f"Could not start the training process: {error}")
            self._renumber()
            return
        job.pid, job.started = process.pid, time.monotonic()
        self._worker = _Worker(job, process, results, cancel)
        self._renumber()

    def _pump(self, worker: _Worker) -> None:
        """Take one message from the worker, or notice that it has died or ignores Stop."""
        try:
            kind, value = worker.results.get(timeout=0.2)
        except queue.Empty:
            if worker.process.is_alive():
                if worker.stop_requested and time.monotonic() - worker.stop_requested > CANCEL_GRACE_S:
                    worker.process.kill()
                    self._end(worker, CANCELLED, say("job.stopped"))
                return
            try:  # a message sent just before the process exited may still be on its way
                kind, value = worker.results.get(timeout=1.0)
            except queue.Empty:
                code = worker.process.exitcode
                self._end(worker, FAILED, say("job.killed", signal=-code) if code is not None and code < 0
                          else say("job.exited", code=code))
                return
        if kind == "progress":
            with self._lock:
                worker.job.progress = Progress(**value)
                if worker.stop_requested:
                    worker.job.progress.tell(worker.job.progress.status, say("job.stopping"))
        elif kind == "done":
            self._end(worker, DONE, "", value)
        elif kind == "cancelled":
            self._end(worker, CANCELLED, say("job.stopped"))
        else:
            self._end(worker, FAILED, value)

    def _end(self, worker: _Worker, state: str, message: Message | str, result: dict[str, Any] | None = None) -> None:
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.results.close()
        if state != DONE:  # a worker killed while saving leaves its temporary folder: tidy it now
            recover_interrupted_saves(workspace_dir(worker.job.workspace))
        elif result and "timings" in result and worker.job.started is not None:
            self.speeds.record(worker.job.config, result["timings"], time.monotonic() - worker.job.started)
        with self._lock:
            job = worker.job
            job.result = result
            if state == DONE and job.name:
                job.adapter_path = str(workspace_dir(job.workspace) / job.name)
            self._conclude(job, state, message or say("job.finished"))
            self._worker = None
            self._renumber()

    @staticmethod
    def _conclude(job: Job, state: str, message: Message | str) -> None:
        job.state, job.position = state, None
        job.progress.tell(state, message)
        if state == FAILED:
            job.error = job.progress.message

    def _snapshot(self, job: Job) -> Job:
        """A copy of the job (called with the lock held); a waiting one says about when it starts: when the
        running job's time left and the estimates of the jobs ahead of it have passed."""
        snapshot = copy.deepcopy(job)
        if job.state == WAITING and job.id in self._waiting:
            ahead = list(self._waiting)[: list(self._waiting).index(job.id)]
            running = self._worker.job if self._worker is not None else None
            left = 0.0
            if running is not None:
                progress = running.progress
                left = running.estimated_s
                if progress.eta_s is not None and running.estimate is not None:  # training, then measuring again
                    left = progress.eta_s + running.estimate.eval_s / 2
            snapshot.starts_in_s = left + sum(self._jobs[j].estimated_s for j in ahead)
        return snapshot

    def _renumber(self) -> None:
        for position, job_id in enumerate(self._waiting, 1):
            self._jobs[job_id].position = position
        if self._worker is not None:
            self._worker.job.position = 0
