"""The serving loop for one causal base model: admit, step, retire, until nothing is left.

Callers `submit` a `GenerationRequest` and read its `Stream` from their own thread: where it
stands in line while it waits, then its tokens as they are chosen. One thread per engine runs
the steps (`models.engine.runner`) under the base's lock, so adapters are attached or deleted
between steps, never during one. A reader that goes away (`Stream.cancel`, e.g. a browser that
disconnects) frees its sequence at the next step. If a step fails, its chunks are run again one
by one, so that a request that cannot run fails alone and the others go on.

`generate_all` runs the same steps in the caller's thread for a batch known in advance
(evaluation), with no thread and no line.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from models.engine.prefix_cache import PrefixCache
from models.engine.runner import Outcome, run_step
from models.engine.scheduler import GenerationRequest, Scheduler, Sequence

IDLE_S = 2.0  # a loop with nothing to do for this long ends its thread (a new request starts another)
HOLD_S = 0.25  # how long the loop keeps its OpenMP threads after a step (see models.batching.HOLD_S)


@dataclass(frozen=True)
class StreamState:
    """What a reader sees: the tokens so far, its place in line while it waits, and whether it ended."""

    tokens: tuple[int, ...]
    ahead: int | None  # requests ahead of it in line; None once it runs
    done: bool


@dataclass(eq=False)
class Stream:
    """One request's output, written by the engine's thread and read by the caller's. Streams submitted
    together share one condition, so that one reader can follow them side by side (`follow`)."""

    _changed: threading.Condition = field(default_factory=threading.Condition)
    _tokens: list[int] = field(default_factory=list)
    _ahead: int | None = 0
    _done: bool = False
    _error: BaseException | None = None
    cancelled: bool = False

    def states(self) -> Iterator[StreamState]:
        """Every change until the end; re-raises the request's error, if it failed."""
        for (state,) in follow([self]):
            yield state

    def tokens(self) -> list[int]:
        """Block until the request ends; its tokens."""
        state = None
        for state in self.states():
            pass
        return list(state.tokens) if state else []

    def cancel(self) -> None:
        self.cancelled = True

    def _state(self) -> StreamState:
        return StreamState(tuple(self._tokens), self._ahead, self._done)

    def _update(self, token: int | None = None, ahead: int | None = None, done: bool = False,
                error: BaseException | None = None) -> None:
        with self._changed:
            if token is not None:
                self._tokens.append(token)
            self._ahead = ahead
            self._done = self._done or done
            self._error = self._error or error
            self._changed.notify_all()


def follow(streams: list[Stream]) -> Iterator[tuple[StreamState, ...]]:
    """The states of streams submitted together, each time one of them changes, until all have ended
    (a reader sees the latest state, not every one). Re-raises the first error; a reader that stops
    early cancels them all, which frees their places at the engine's next step."""
    changed, seen = streams[0]._changed, None
    try:
        while True:
            with changed:
                changed.wait_for(lambda: tuple((len(s._tokens), s._ahead, s._done) for s in streams) != seen)
                states = tuple(stream._state() for stream in streams)
                error = next((stream._error for stream in streams if stream._error is not None), None)
            seen = tuple((len(s.tokens), s.ahead, s.done) for s in states)
            if error is not None:
                raise error
            yield states
            if all(state.done for state in states):
                return
    finally:
        for stream in streams:
            stream.cancel()


class Engine:
    """Continuous batching for one model: `model_of()` gives the model to run (the base, or the base
    wrapped by peft once adapters are attached), `lock` is held for every step."""

    def __init__(self, model_of: Callable[[], Any], lock: Any, scheduler: Scheduler | None = None,
                 when_idle: Callable[[], None] = lambda: None, on_busy: Callable[[bool], None] = lambda busy: None):
        self.model_of, self.lock = model_of, lock
        self.scheduler = scheduler or Scheduler()
        self.when_idle, self.on_busy = when_idle, on_busy
        self.prefixes = PrefixCache()  # used by the loop's thread only
        self._streams: dict[Sequence, Stream] = {}
        self._changed = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False
        _ENGINES.add(self)
        self.step_sizes: deque[int] = deque(maxlen=10_000)  # sequences per step, for tests and benchmarks

    def submit(self, request: GenerationRequest) -> Stream:
        return self.submit_all([request])[0]

    def submit_all(self, requests: list[GenerationRequest]) -> list[Stream]:
        """Put requests in line together (they start in the same step when there is room)."""
        shared = threading.Condition()
        streams = [Stream(shared) for _ in requests]
        with self._changed:
            if self._closed:
                raise RuntimeError("The server is shutting down.")
            if requests and not self._streams:
                self.on_busy(True)
            for request, stream in zip(requests, streams):
                sequence = Sequence(request)
                self._streams[sequence] = stream
                self.scheduler.add(sequence)
            self._admit()
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="engine", daemon=True)
                self._worker.start()
            self._changed.notify_all()
        return streams

    def generate_all(self, requests: list[GenerationRequest]) -> list[list[int]]:
        """Every request's tokens, stepping in this thread (no line: all run together up to the limit)."""
        scheduler = Scheduler(max_active=self.scheduler.max_active, max_per_owner=len(requests) or 1,
                              prefill_budget=self.scheduler.idle_prefill_budget,
                              idle_prefill_budget=self.scheduler.idle_prefill_budget)
        sequences = [Sequence(request) for request in requests]
        for sequence in sequences:
            scheduler.add(sequence)
        while scheduler.waiting or scheduler.active:
            scheduler.admit()
            with self.lock:
                outcomes = run_step(self.model_of(), scheduler.plan())
            for outcome in outcomes:
                if outcome.finished:
                    scheduler.remove(outcome.sequence)
        return [sequence.generated for sequence in sequences]

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking requests, end the ones in progress with an error, and let the thread finish its step:
        a process that exits while a thread is inside a torch operation is aborted by the C++ runtime."""
        with self._changed:
            self._closed = True
            worker = self._worker
            self._changed.notify_all()
        if worker is not None:
            worker.join(timeout)

    # ------------------------------------------------------------------ the loop's thread

    def _serve(self) -> None:
        holding = False
        while True:
            with self._changed:
                if self._closed:
                    for sequence in list(self._streams):
                        self._streams[sequence]._update(done=True, error=RuntimeError("The server is shutting down."))
                        self._retire(sequence)
                    self._worker = None
                    return
                self._drop_cancelled()
                if not self.scheduler.waiting and not self.scheduler.active:
                    if self._changed.wait(HOLD_S if holding else IDLE_S):
                        continue
                    if holding:  # idle for HOLD_S: give the cores' threads and the freed memory back
                        holding = False
                        self.when_idle()
                        continue
                    self._worker = None
                    return
                self._admit()
                starting = [s for s in self.scheduler.active if s.fed == 0 and s.kv.length == 0]
            for sequence in starting:
                self.prefixes.reuse(sequence)
            with self._changed:
                chunks = self.scheduler.plan()
            self.step_sizes.append(len(chunks))
            self._deliver(self._step(chunks))
            holding = True

    def _step(self, chunks: list) -> list[Outcome | tuple[Sequence, BaseException]]:
        """Run the step; if it fails, each chunk alone, so that only the chunks that fail by themselves fail."""
        try:
            with self.lock:
                return list(run_step(self.model_of(), chunks))
        except Exception as error:  # noqa: BLE001 - handed to the requests' readers
            if len(chunks) == 1:
                return [(chunks[0].sequence, error)]
        results: list[Outcome | tuple[Sequence, BaseException]] = []
        for chunk in chunks:
            results += self._step([chunk])
        return results

    def _deliver(self, results: list[Outcome | tuple[Sequence, BaseException]]) -> None:
        for result in results:  # a prompt just read, or a finished reply (a conversation's next turn reuses it)
            if isinstance(result, Outcome) and (result.finished or len(result.sequence.generated) == 1):
                self.prefixes.remember(result.sequence)
        with self._changed:
            for result in results:
                if isinstance(result, Outcome):
                    stream = self._streams[result.sequence]
                    stream._update(token=result.token, done=result.finished)
                    if result.finished:
                        self._retire(result.sequence)
                else:
                    sequence, error = result
                    self._streams[sequence]._update(done=True, error=error)
                    self._retire(sequence)

    def _admit(self) -> None:
        """Let in whoever there is room for, and tell everyone still waiting how many are ahead."""
        for sequence in self.scheduler.admit():
            self._streams[sequence]._update(ahead=None)
        for sequence, ahead in self.scheduler.ahead().items():
            self._streams[sequence]._update(ahead=ahead)

    def _drop_cancelled(self) -> None:
        for sequence, stream in list(self._streams.items()):
            if stream.cancelled:
                stream._update(done=True)
                self._retire(sequence)

    def _retire(self, sequence: Sequence) -> None:
        self.scheduler.remove(sequence)
        if self._streams.pop(sequence, None) is not None and not self._streams:
            self.on_busy(False)


_ENGINES: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _close_engines() -> None:
    for engine in list(_ENGINES):
        engine.close()
