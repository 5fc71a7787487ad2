"""Micro-batching: requests for one base model that arrive close together run as one batched call.

Eight users translating at once, each with their own adapter, share one pass through the model:
the rows go through it together and each row through its own adapter (peft `adapter_names`,
computed by `models.mixed_lora`). A request waits at most `window_s` for company; requests that
arrive while a batch is running join the next one without waiting more. Each row keeps its own
prompt, adapter and length cap (see `generate_texts`), so a request gets the answer it gets
alone, up to rounding (padding and batch shape change the matrix kernels): in fp32 only the last
bits, with a body served in bf16 now and then a different word in a greedy translation.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

WINDOW_S = 0.01  # how long a request arriving at an idle model waits for others (callers may choose)
MAX_BATCH = 16
IDLE_S = 2.0  # a worker with nothing to do for this long exits (a new request starts another)
# A worker keeps its OpenMP threads this long after a batch (see release_openmp_threads): handing
# them back after every batch made back-to-back MiniLM requests about twice as slow, as every batch
# started a new pool of threads (BENCHMARKS.md, design notes).
HOLD_S = 0.25


@dataclass
class _Request(Generic[Item]):
    item: Item
    arrived: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)


class MicroBatcher(Generic[Item, Result]):
    """Collects `submit`ted items and hands them to `run` in batches, from one worker thread.

    `run(items)` returns one result per item, in order. If a batch fails, its items are retried
    one by one, so a request that cannot run only fails itself."""

    def __init__(self, run: Callable[[list[Item]], list[Result]], window_s: float | None = None,
                 max_batch: int = MAX_BATCH, idle_s: float = IDLE_S):
        self.run, self.max_batch, self.idle_s = run, max_batch, idle_s
        self.window_s = WINDOW_S if window_s is None else window_s
        self._pending: list[_Request[Item]] = []
        self._changed = threading.Condition()
        self._worker: threading.Thread | None = None
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # for tests and benchmarks: recent batch sizes

    def submit(self, item: Item) -> Result:
        """Block until the item's result is ready (re-raising its error, if it had one)."""
        request = _Request(item)
        with self._changed:
            self._pending.append(request)
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="micro-batcher", daemon=True)
                self._worker.start()
            self._changed.notify_all()
        return request.future.result()

    def _serve(self) -> None:
        holding = False  # whether this thread's OpenMP pool is still up from its last batch
        while True:
            batch: list[_Request[Item]] = []
            with self._changed:
                if self._changed.wait_for(lambda: self._pending, timeout=HOLD_S if holding else self.idle_s):
                    deadline = self._pending[0].arrived + self.window_s
                    while len(self._pending) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                        self._changed.wait(left)
                    batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                elif not holding:
                    self._worker = None
                    return
            if batch:
                self.batch_sizes.append(len(batch))
                self._execute(batch)
                holding = True
            else:  # idle: leave the cores' threads to whoever computes next
                release_openmp_threads()
                holding = False

    def _execute(self, batch: list[_Request[Item]]) -> None:
        try:
            results = self.run([request.item for request in batch])
        except Exception as error:  # noqa: BLE001 - handed to the waiting caller(s)
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            for request in batch:
                self._execute([request])
            return
        for request, result in zip(batch, results):
            request.future.set_result(result)


_CREATING = threading.Lock()


def batcher(owner: Any, task: str, run: Callable[[list[Item]], list[Result]],
            window_s: float | None = None) -> MicroBatcher[Item, Result]:
    """The batcher for one task on one loaded base (kept in `owner.batchers`, created on first use)."""
    with _CREATING:
        if task not in owner.batchers:
            owner.batchers[task] = MicroBatcher(run, window_s=window_s)
        return owner.batchers[task]


@lru_cache(maxsize=1)
def _openmp_library() -> Any:
    """The OpenMP runtime torch runs its intra-op threads on (Linux: found among the loaded libraries)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line or "libiomp" in line or "libomp" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
            library.omp_pause_resource_all.argtypes = [ctypes.c_int]
            return library
        except (OSError, AttributeError):
            continue
    return None


def release_openmp_threads() -> None:
    """Free the calling thread's OpenMP worker threads (torch starts them again when needed).

    Each thread that runs torch operations gets its own pool of OpenMP threads, kept while the
    thread lives. As soon as two pools exist on this 2-core machine, OpenMP stops spinning
    between operations and every small operation waits for its threads to wake up (MiniLM requests
    and Gemma translations a third slower or more; BENCHMARKS.md, design notes). So a thread
    that has finished its model work (loading a base, attaching an adapter; a batcher's worker
    once it has waited HOLD_S for the next batch) hands its pool back. A no-op where the runtime
    is not found."""
    library = _openmp_library()
    if library is not None:
        library.omp_pause_resource_all(1)  # omp_pause_soft: the calling thread's pool only


@lru_cache(maxsize=1)
def _c_library() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def return_free_memory() -> None:
    """Give the memory freed since the last call back to the system (glibc's `malloc_trim`).

    An engine's sequences allocate their key/value buffers as they grow and free them when they end;
    glibc keeps freed blocks for reuse, so after a class's burst of replies the app would keep the
    peak's memory for good (the load test saw +480 MiB). Called when an engine falls idle. A no-op
    where the C library is not glibc."""
    library = _c_library()
    if library is not None and hasattr(library, "malloc_trim"):
        library.malloc_trim(0)
