"""Strategies that take their time or stop the run, for the tests of the runner's time
budget and of stopping a benchmark. They live in an importable module so that the runner's
worker processes can unpickle them; importing this module registers nothing (see
``tests.slow_plugin`` and :func:`registered`)."""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

from medfuse.fusion.registry import _REGISTRY, register
from tests.reference_strategies import FIT_COUNTS, MeanLogistic


class Sleepy(MeanLogistic):
    """:class:`~tests.reference_strategies.MeanLogistic` whose fit first sleeps ``seconds``
    (the numbers do not depend on it). With ``trace`` (a file path), every fit that starts
    appends a line to that file, in whichever process it runs: its process ID and the
    largest number of threads of the BLAS/OpenMP pools loaded there."""

    def __init__(self, seconds: float = 0.0, trace: str | None = None, C: float = 1.0,
                 preprocessors=None, random_state=None, tag: str = "sleepy"):
        super().__init__(C=C, preprocessors=preprocessors, random_state=random_state, tag=tag)
        self.seconds = seconds
        self.trace = trace

    def _fit(self, data, y):
        if self.trace:
            from threadpoolctl import threadpool_info

            threads = max(pool["num_threads"] for pool in threadpool_info())
            with open(self.trace, "a") as f:
                f.write(f"{os.getpid()} {threads}\n")
        time.sleep(self.seconds)
        super()._fit(data, y)


class Terminating(MeanLogistic):
    """Sends SIGTERM to its own process when ``FIT_COUNTS[tag]`` reaches ``at`` (a run
    stopped by ``kill -TERM`` while a fit runs in this process)."""

    def __init__(self, at: int = 1, C: float = 1.0, preprocessors=None, random_state=None,
                 tag: str = "terminating"):
        super().__init__(C=C, preprocessors=preprocessors, random_state=random_state, tag=tag)
        self.at = at

    def _fit(self, data, y):
        if FIT_COUNTS[self.tag] == self.at:
            FIT_COUNTS[self.tag] += 1
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal interrupts this
        super()._fit(data, y)


class Dying(MeanLogistic):
    """Ends its own process (``os._exit``, as a worker killed by the system would end) the
    first time it is fitted: the fit that finds no file at ``marker`` creates it and dies;
    every later fit, in any process, runs normally."""

    def __init__(self, marker: str = "", C: float = 1.0, preprocessors=None,
                 random_state=None, tag: str = "dying"):
        super().__init__(C=C, preprocessors=preprocessors, random_state=random_state, tag=tag)
        self.marker = marker

    def _fit(self, data, y):
        try:
            with open(self.marker, "x"):
                pass
        except FileExistsError:
            super()._fit(data, y)
        else:
            os._exit(1)


def register_all() -> None:
    """Register ``sleepy`` (:class:`Sleepy`) and ``late-mean-ref`` (a fast strategy)."""
    register("sleepy", family="late")(Sleepy)
    register("late-mean-ref", family="late", interpretable=True)(MeanLogistic)


@contextmanager
def registered():
    """:func:`register_all` for the duration of a test; the registry is restored after."""
    saved = dict(_REGISTRY)
    register_all()
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)
