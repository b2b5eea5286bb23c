"""Worker processes for the benchmark's fits, which can be stopped at any moment.

A :class:`FitPool` runs tasks in ``jobs`` lanes. A lane is a loky executor with a single
worker process, started once with the arguments every task shares (the data) and reused
for task after task. The pool stops a lane by killing its worker process (and the
processes that one started): when the task in it runs past the time budget, and on the way
out of an interrupted or failed run. Killing a lane stops that task only; the other lanes
go on, and the next queued task goes to a fresh lane, so nothing waits behind a stuck fit.

Worker processes see the kinds, strategies, representations and encoders registered in
this process (:mod:`medfuse.plugins`), run with one BLAS/OpenMP thread (the
environment is set before numpy loads), ignore SIGINT (a Ctrl-C in a terminal reaches the
whole process group; the parent decides what stops) and exit by themselves when their
parent process is gone (killed with SIGKILL, say), so none outlives the run.

:class:`InProcess` runs the same tasks one after the other in this process, for a run
with one job and no budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from medfuse.evaluate.interrupt import deferred_stop
from medfuse.plugins import restore, snapshot

#: Environment of every worker process: one thread per BLAS/OpenMP pool.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}

#: Seconds between two checks, in a worker process, that its parent is still alive.
PARENT_CHECK_SECONDS = 0.5
#: Longest wait, in the parent, before it looks for a signal recorded meanwhile (seconds).
SIGNAL_CHECK_SECONDS = 0.2

_SHARED: tuple = ()  # in a worker process: the arguments every task shares
_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


@dataclass
class Outcome:
    """What became of one task.

    Attributes
    ----------
    item : the task.
    value : what the task function returned (None unless it finished).
    seconds : wall time from the start of the task to its end or its kill, in seconds.
    over_budget : the task ran past the budget and its worker process was killed.
    crashed : the message of a worker process that died while running the task.
    skipped : the task was not started (``skip`` said so).
    """

    item: object
    value: object = None
    seconds: float = 0.0
    over_budget: bool = False
    crashed: str | None = None
    skipped: bool = False


class InProcess:
    """Run tasks one after the other in this process: ``fn(item, *shared)``.

    Parameters
    ----------
    fn : the task function.
    shared : the arguments that follow the item in every call.
    """

    def __init__(self, fn: Callable, shared: tuple):
        self.fn = fn
        self.shared = shared

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def run(self, items: Iterable, skip: Callable[[object], bool] | None = None
            ) -> Iterator[Outcome]:
        """The outcome of every item, in order; items for which ``skip`` is true when their
        turn comes are not run."""
        for item in items:
            if skip is not None and skip(item):
                yield Outcome(item, skipped=True)
                continue
            start = time.perf_counter()
            value = self.fn(item, *self.shared)
            yield Outcome(item, value, seconds=time.perf_counter() - start)


@dataclass
class _Lane:
    """One single-process executor; ``future`` is its start-up check while ``item`` is
    None, else the task ``item`` started at ``started`` (monotonic seconds)."""

    executor: object
    future: object | None
    item: object | None = None
    started: float = 0.0
    pid: int | None = None


class FitPool:
    """Run tasks ``fn(item, *shared)`` in ``jobs`` worker processes, each task within
    ``budget`` seconds.

    Use it as a context manager: on leaving it, normally or by an exception (an
    interruption included), the worker processes are killed. A worker process is started
    when there is a task for it, and again after one was killed (over budget) or died.

    Parameters
    ----------
    fn : the task function (importable by the worker processes).
    shared : the arguments every task shares; sent once to each worker process.
    jobs : number of worker processes (lanes).
    budget : seconds a task may run (from its start in a ready worker to its result);
        None: no limit. The start of a worker process does not count.
    """

    def __init__(self, fn: Callable, shared: tuple, jobs: int, budget: float | None):
        self.fn = fn
        self.shared = shared
        self.jobs = int(jobs)
        self.budget = budget
        self._lanes: list[_Lane | None] = []

    def __enter__(self) -> FitPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    # ------------------------------------------------------------------ the queue
    def run(self, items: Iterable, skip: Callable[[object], bool] | None = None
            ) -> Iterator[Outcome]:
        """The outcome of every item as it comes (not in order). An item for which
        ``skip`` is true when its turn comes is not started."""
        queue = deque(items)
        skip = skip or (lambda item: False)
        self._lanes = [None] * min(self.jobs, len(queue))
        while True:
            for i in range(len(self._lanes)):
                lane = self._lanes[i]
                if lane is not None and lane.future is not None:
                    continue
                while queue and skip(queue[0]):
                    yield Outcome(queue.popleft(), skipped=True)
                if not queue:
                    break
                with deferred_stop():  # never interrupted inside the executor
                    if lane is None:  # started when there is work for it
                        self._lanes[i] = self._start_lane()
                    else:
                        lane.item = queue.popleft()
                        lane.started = time.monotonic()
                        lane.future = lane.executor.submit(_call, self.fn, lane.item)
            busy = [lane.future for lane in self._lanes
                    if lane is not None and lane.future is not None]
            if not busy:
                return
            self._wait(busy)
            yield from self._collect()

    def _wait(self, busy: list) -> None:
        """Until a task ends or reaches the budget, in slices short enough that a signal
        recorded meanwhile stops the run at once (raised between two slices)."""
        left = self._time_left()
        end = None if left is None else time.monotonic() + left
        while True:
            step = SIGNAL_CHECK_SECONDS if end is None else min(
                SIGNAL_CHECK_SECONDS, max(0.0, end - time.monotonic()))
            with deferred_stop():
                _wait_first(busy, step)
            if any(f.done() for f in busy) or (end is not None and time.monotonic() >= end):
                return

    def _time_left(self) -> float | None:
        """Seconds until the first running task reaches the budget (None: no deadline)."""
        if self.budget is None:
            return None
        starts = [lane.started for lane in self._lanes if lane is not None
                  and lane.future is not None and lane.item is not None]
        if not starts:
            return None
        return max(0.0, min(starts) + self.budget - time.monotonic())

    def _collect(self) -> Iterator[Outcome]:
        """Outcomes of finished tasks and of tasks over budget (their lanes killed)."""
        now = time.monotonic()
        for i in range(len(self._lanes)):
            lane = self._lanes[i]
            if lane is None or lane.future is None:
                continue
            if lane.future.done():
                future, item = lane.future, lane.item
                lane.future, lane.item = None, None
                if item is None:  # the start-up check
                    lane.pid = _started(future)
                    continue
                outcome = Outcome(item, seconds=now - lane.started)
                try:
                    outcome.value = future.result()
                except _broken_pool() as err:
                    outcome.crashed = str(err).strip() or type(err).__name__
                    with deferred_stop():
                        _kill(lane)
                    self._lanes[i] = None
                yield outcome
            elif (lane.item is not None and self.budget is not None
                  and now - lane.started >= self.budget):
                item, seconds = lane.item, now - lane.started
                with deferred_stop():
                    _kill(lane)
                self._lanes[i] = None
                yield Outcome(item, seconds=seconds, over_budget=True)

    # ------------------------------------------------------------------ processes
    def _start_lane(self) -> _Lane:
        from joblib.externals.loky import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=1, initializer=_start_worker,
                                       initargs=(snapshot(), self.shared, os.getpid()),
                                       env=dict(THREAD_ENV))
        return _Lane(executor, executor.submit(os.getpid))

    def close(self) -> None:
        """Kill every worker process. After :meth:`run` they have nothing left to do (a
        task's result comes back after its cache entry is written), and killing takes a
        few milliseconds where a graceful shutdown takes most of a second."""
        lanes, self._lanes = [lane for lane in self._lanes if lane is not None], []
        for lane in lanes:
            _kill(lane)


def n_workers(jobs: int) -> int:
    """Worker processes for ``jobs`` (negative: counted back from the number of CPUs)."""
    from joblib import cpu_count

    if jobs == 0:
        raise ValueError("jobs must be a positive number of workers, or negative to count "
                         "back from the number of CPUs (-1: all); got 0")
    return jobs if jobs > 0 else max(1, cpu_count() + 1 + jobs)


def _broken_pool() -> type[BaseException]:
    from joblib.externals.loky import BrokenProcessPool

    return BrokenProcessPool


def _wait_first(futures: list, timeout: float | None) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait

    wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)


def _started(future) -> int:
    """The worker's process ID from its start-up check; a worker that cannot start (its
    initializer failed, the data could not be sent) stops the run."""
    try:
        return int(future.result())
    except _broken_pool() as err:
        raise RuntimeError(f"A worker process for the benchmark could not start: {err}"
                           ) from err


def _kill(lane: _Lane) -> None:
    """Kill the lane's worker process (and its children) and wait for its executor."""
    lane.executor.shutdown(wait=True, kill_workers=True)
    if lane.pid is not None:  # a backstop: the executor kills it already
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(lane.pid, getattr(signal, "SIGKILL", signal.SIGTERM))


# ---------------------------------------------------------------------- in the worker
def _start_worker(registrations: dict, shared: tuple, parent: int) -> None:
    """Initializer of a worker process: register the parent's plugins, keep the shared
    arguments, leave SIGINT to the parent, and exit when the parent (process ID ``parent``,
    given by the parent itself, so that a parent that died while this process started is
    noticed too) is gone."""
    global _SHARED
    _kill_me_with_parent()
    if os.getppid() != parent:  # gone before the kernel could be asked to tell us
        os._exit(1)
    restore(registrations)
    _SHARED = shared
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="medfuse-parent-watch").start()


def _kill_me_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this process when its parent ends (the thread
    that started it: the one running the benchmark); elsewhere the watch thread alone
    does it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def _exit_with_parent(parent: int) -> None:
    """Exit as soon as the parent process is gone (this process is then re-parented)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _call(fn: Callable, item):
    return fn(item, *_SHARED)
