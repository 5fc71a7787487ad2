"""Whether the app is answering requests right now, so that training can give way.

On a 2-core machine a training job and a class chatting with the models compete for the same
cores. The engines report when they start and stop having requests (`engine_busy`); the job queue
(`finetune.jobs`) listens and forwards it to its worker process, which then pauses between training
steps while requests are being answered, for a bounded time so that the job still finishes.
"""

from __future__ import annotations

import threading
from typing import Callable

_LOCK = threading.Lock()
_busy_engines = 0
_listeners: list[Callable[[bool], None]] = []


def engine_busy(busy: bool) -> None:
    """An engine got its first request (True) or finished its last one (False)."""
    global _busy_engines
    with _LOCK:
        before = _busy_engines > 0
        _busy_engines = max(0, _busy_engines + (1 if busy else -1))
        now = _busy_engines > 0
        listeners = list(_listeners) if now != before else []
    for listener in listeners:
        listener(now)


def is_busy() -> bool:
    with _LOCK:
        return _busy_engines > 0


def listen(listener: Callable[[bool], None]) -> Callable[[], None]:
    """Call `listener(busy)` whenever the app starts or stops answering; returns a function that stops it."""
    with _LOCK:
        _listeners.append(listener)
        busy = _busy_engines > 0
    listener(busy)

    def stop() -> None:
        with _LOCK:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop
