"""Stopping a benchmark on SIGINT (Ctrl-C) or SIGTERM.

While the runner works, both signals raise :class:`Stop` (a ``KeyboardInterrupt``) in the
main thread, so that the worker processes are killed on the way out and the finished fits
stay in the cache; the runner then raises :class:`BenchmarkInterrupted`, which says how many
fits are finished and which exit status the command line should use (128 + the signal
number: 130 for SIGINT, 143 for SIGTERM).

Code that must not be interrupted half-way (waiting on worker processes, submitting a task:
an exception raised inside the executor's locks and queues can leave them held, and the
clean-up then waits for ever) runs under :func:`deferred_stop`: a signal that arrives there
is recorded and raised as :class:`Stop` when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM while :func:`signals_stop` is active.

    Attributes
    ----------
    signal_number : the signal received.
    """

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = int(signal_number)


class BenchmarkInterrupted(KeyboardInterrupt):
    """A benchmark stopped by a signal: its worker processes are stopped, and every fit that
    finished is in the cache (when there is one), so ``resume=True`` continues from there.

    Attributes
    ----------
    signal_number : the signal that stopped it (SIGINT for a ``KeyboardInterrupt``).
    finished : fits finished (reused from the cache or computed before the signal).
    total : fits of the whole benchmark.
    cached : whether the finished fits are in a cache (False when ``out`` is None).
    """

    def __init__(self, signal_number: int, finished: int, total: int, cached: bool):
        self.signal_number = int(signal_number)
        self.finished = int(finished)
        self.total = int(total)
        self.cached = bool(cached)
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.cached:
            return f"{self.finished} of {self.total} fits finished and cached"
        return f"{self.finished} of {self.total} fits finished (no cache: nothing is kept)"

    @property
    def exit_code(self) -> int:
        """The conventional exit status of a process stopped by the signal (128 + number)."""
        return 128 + self.signal_number


class _Pending:
    """The main thread's deferral depth and the signal recorded meanwhile (None: none)."""

    depth = 0
    signal_number: int | None = None


@contextlib.contextmanager
def deferred_stop() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM (under :func:`signals_stop`) are recorded instead of
    raised; :class:`Stop` is raised when the outermost block ends. Elsewhere than in the
    main thread it does nothing (signals are handled in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Pending.depth += 1
    try:
        yield
    finally:
        _Pending.depth -= 1
    if _Pending.depth == 0 and _Pending.signal_number is not None:
        number, _Pending.signal_number = _Pending.signal_number, None
        raise Stop(number)


def signal_of(stop: KeyboardInterrupt) -> int:
    """The signal behind an interruption (SIGINT for a plain ``KeyboardInterrupt``)."""
    return getattr(stop, "signal_number", int(signal.SIGINT))


@contextlib.contextmanager
def signals_stop() -> Iterator[None]:
    """While active, SIGINT and SIGTERM raise :class:`Stop` in the main thread.

    Only signals left at their default handling are taken over (an application's own
    handlers, or signals it ignores, are left alone), only in the main thread, and the
    previous handlers come back on exit. After the first signal both are ignored until exit,
    so that a second Ctrl-C does not interrupt the clean-up (killing the worker processes).
    Inside :func:`deferred_stop` the signal is raised when that block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}

    def stop(signal_number, frame):
        for number in previous:
            signal.signal(number, signal.SIG_IGN)
        if _Pending.depth:
            _Pending.signal_number = int(signal_number)
            return
        raise Stop(signal_number)

    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) in (signal.SIG_DFL, signal.default_int_handler):
            previous[number] = signal.getsignal(number)
            signal.signal(number, stop)
    _Pending.signal_number = None
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _Pending.signal_number = None
