"""The benchmark's fits on a Dask cluster: an existing one (``tcp://host:8786``) or a
``LocalCluster`` started for the run.

:class:`DaskPool` has the interface of :class:`~medfuse.evaluate.workers.FitPool`: tasks
``fn(item, *shared)``, outcomes as they come, a per-fit time budget, an item skipped when
``skip`` says so at its turn. What differs, and why:

- **The data go to the workers once.** ``shared`` (the cohort, the outcome, the splits'
  context) is scattered to every worker (``broadcast``) before the first task; each task
  refers to it, so a task sends only its item (a strategy and a split).
- **As many tasks in flight as the cluster has worker threads.** A task is submitted when
  a slot frees, so its time starts close to when a worker starts it (the budget counts
  from there, as the pool's lanes do) and ``skip`` is asked at the last moment.
- **A worker that dies mid-fit** (killed, out of memory, its machine gone) is noticed by
  the scheduler, which runs the task again on another worker (up to Dask's
  ``distributed.scheduler.allowed-failures``, 3 by default); a task that kills every worker
  it reaches ends as ``crashed``.
- **A fit over budget** is cancelled and the worker running it is restarted by its nanny
  (a thread cannot be stopped from outside); the data are then scattered again, since the
  restarted worker lost its copy.
- **The cache is written here, not by the workers**, which may run on machines that do
  not share this file system (:attr:`DaskPool.writes_cache` is False; the runner writes
  each result as it comes back).

Results equal the serial run's bit for bit: every task runs with one BLAS and torch
thread (the runner's tasks set it) in a worker with one thread, and its seeds come from the
task, not from where or when it runs.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from medfuse.evaluate.interrupt import deferred_stop
from medfuse.evaluate.workers import SIGNAL_CHECK_SECONDS, THREAD_ENV, Outcome
from medfuse.plugins import restore, snapshot

#: Seconds to wait for the scheduler to answer before saying it cannot be reached.
CONNECT_SECONDS = 10.0
#: Seconds to wait for the first worker of a cluster that has none yet.
WORKER_WAIT_SECONDS = 30.0


class ClusterError(RuntimeError):
    """A cluster the benchmark cannot use: the scheduler cannot be reached, it has no
    workers, or a worker lacks medfuse (the message says which and what to do)."""


def connect(scheduler: str, workers: int = 2):
    """A Dask client for ``scheduler``, and the cluster started for it (or None).

    Parameters
    ----------
    scheduler : str
        ``"local"`` (start a ``LocalCluster`` on loopback: ``workers`` processes with one
        thread each) or the address of a running scheduler (``tcp://host:8786``).
    workers : int
        Worker processes of a local cluster.

    Returns
    -------
    tuple
        (``distributed.Client``, ``distributed.LocalCluster`` or None).

    Raises
    ------
    ClusterError
        Dask is not installed, the scheduler cannot be reached, the cluster has no worker,
        or a worker cannot import medfuse (or has another version of it).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError('Running on a Dask cluster needs dask.distributed: pip install '
                           '"medfuse[dask]"') from None
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               env=dict(THREAD_ENV))
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterError(
                f"The Dask scheduler at {scheduler} cannot be reached ({err}). Start one "
                "(dask scheduler; dask worker ADDRESS on each machine), check the address "
                "and port, or use --cluster local.") from None
    try:
        check_workers(client)
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    return client, cluster


def check_workers(client) -> dict[str, str]:
    """Refuse a cluster whose workers cannot run the benchmark's tasks.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    dict
        Worker address -> the medfuse version it has.

    Raises
    ------
    ClusterError
        No worker within :data:`WORKER_WAIT_SECONDS`, or a worker without medfuse, or with
        another version of it than this process (its results would differ).
    """
    import medfuse

    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except (TimeoutError, OSError):
        raise ClusterError(f"The Dask cluster at {client.scheduler.address} has no worker "
                           f"(waited {WORKER_WAIT_SECONDS:.0f} s); start some with "
                           "dask worker ADDRESS.") from None
    # a standard-library function, so that a worker without medfuse can still answer
    found = client.run(importlib.metadata.version, "medfuse", on_error="return")
    missing = sorted(w for w, v in found.items() if isinstance(v, BaseException))
    if missing:
        raise ClusterError(
            f"medfuse is not installed on Dask worker(s) {', '.join(missing)}; install the "
            f"same version as here ({medfuse.__version__}) in every worker's environment.")
    other = sorted(f"{w} ({v})" for w, v in found.items() if v != medfuse.__version__)
    if other:
        raise ClusterError(f"Dask worker(s) {', '.join(other)} have another medfuse version "
                           f"than this process ({medfuse.__version__}); results would differ "
                           "from a local run. Install the same version everywhere.")
    return dict(found)


class DaskPool:
    """Run tasks ``fn(item, *shared)`` on a Dask cluster, each within ``budget`` seconds.

    Use it as a context manager: on leaving it, normally or by an exception (an
    interruption included), the tasks still running are cancelled and a cluster started
    for the run is closed.

    Parameters
    ----------
    fn : the task function (importable by the workers).
    shared : the arguments every task shares; scattered once to every worker.
    scheduler : ``"local"`` or a scheduler address (see :func:`connect`).
    budget : seconds a task may run; None: no limit.
    workers : worker processes of a local cluster.
    """

    #: the runner writes the cache entries (the workers may not share this file system)
    writes_cache = False

    def __init__(self, fn: Callable, shared: tuple, scheduler: str,
                 budget: float | None = None, workers: int = 2):
        self.fn = fn
        self.shared = shared
        self.scheduler = scheduler
        self.budget = budget
        self.workers = int(workers)
        self.client = None
        self._cluster = None
        self._data = None
        self._running: dict = {}  # future -> (item, start in monotonic seconds)

    def __enter__(self) -> DaskPool:
        self.client, self._cluster = connect(self.scheduler, self.workers)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    @property
    def slots(self) -> int:
        """Tasks run at once: the cluster's worker threads."""
        return max(1, sum(self.client.nthreads().values()))

    def _scatter(self) -> None:
        registrations = snapshot()
        self._data = self.client.scatter([(registrations, self.shared)], broadcast=True,
                                         hash=False)[0]

    # ------------------------------------------------------------------ the queue
    def run(self, items: Iterable, skip: Callable[[object], bool] | None = None
            ) -> Iterator[Outcome]:
        """The outcome of every item as it comes (not in order). An item for which
        ``skip`` is true when its turn comes is not started."""
        queue = deque(items)
        skip = skip or (lambda item: False)
        if queue and self._data is None:
            self._scatter()
        while True:
            while queue and len(self._running) < self.slots:
                item = queue.popleft()
                if skip(item):
                    yield Outcome(item, skipped=True)
                    continue
                with deferred_stop():
                    future = self.client.submit(_call, self.fn, item, self._data, pure=False)
                self._running[future] = (item, time.monotonic())
            if not self._running:
                return
            self._wait()
            yield from self._collect()

    def _wait(self) -> None:
        """Until a task ends or reaches the budget, in slices short enough that a signal
        recorded meanwhile stops the run at once."""
        from distributed import wait

        end = None
        if self.budget is not None:
            end = min(start for _, start in self._running.values()) + self.budget
        while True:
            step = SIGNAL_CHECK_SECONDS if end is None else min(
                SIGNAL_CHECK_SECONDS, max(0.0, end - time.monotonic()))
            with deferred_stop(), contextlib.suppress(TimeoutError):
                wait(list(self._running), timeout=max(step, 1e-3),
                     return_when="FIRST_COMPLETED")
            if any(f.done() for f in self._running) or (
                    end is not None and time.monotonic() >= end):
                return

    def _collect(self) -> Iterator[Outcome]:
        """Outcomes of finished tasks and of tasks over budget (cancelled, their workers
        restarted)."""
        now = time.monotonic()
        over = []
        for future, (item, start) in list(self._running.items()):
            if future.done():
                del self._running[future]
                outcome = Outcome(item, seconds=now - start)
                if future.status == "finished":
                    outcome.value = future.result()
                else:
                    err = future.exception()
                    if not _lost_worker(err):
                        raise err
                    outcome.crashed = str(err).strip() or type(err).__name__
                yield outcome
            elif self.budget is not None and now - start >= self.budget:
                del self._running[future]
                over.append(future)
                yield Outcome(item, seconds=now - start, over_budget=True)
        if over:
            self._stop(over)

    def _stop(self, futures: list) -> None:
        """Cancel tasks over budget and restart the workers running them."""
        keys = {f.key for f in futures}
        with deferred_stop():
            busy = [w for w, running in self.client.processing().items()
                    if keys & set(running)]
            self.client.cancel(futures, force=True)
            if busy:
                with contextlib.suppress(Exception):  # a worker without a nanny goes on
                    self.client.restart_workers(busy, raise_for_error=False)
                # a restarted worker lost its copy of the data, and the scheduler may not
                # have said so yet: the next tasks get a fresh one
                self._scatter()

    def close(self) -> None:
        """Cancel what still runs and close the client (and a cluster started for the
        run)."""
        client, cluster = self.client, self._cluster
        self.client, self._cluster = None, None
        with deferred_stop():
            if client is not None:
                with contextlib.suppress(Exception):
                    if self._running:
                        client.cancel(list(self._running), force=True)
                    client.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()
        self._running, self._data = {}, None


def _lost_worker(err: BaseException | None) -> bool:
    """Whether a task failed because its workers died (not because of its own error)."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(err, (KilledWorker, FutureCancelledError))


# ---------------------------------------------------------------------- on the worker
def _call(fn: Callable, item, data: tuple):
    """Run one task on a worker: put the parent's plugin registrations in place (a dict
    update: cheap, and right on a worker restarted meanwhile), then ``fn(item, *shared)``."""
    registrations, shared = data
    restore(registrations)
    return fn(item, *shared)
