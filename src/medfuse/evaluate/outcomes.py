"""What the runner keeps of each task's outcome: the finished fit, or why its strategy is
left out of the results (an error, a fit over budget, a worker process that died); and, on
``resume``, what an earlier run left in the cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from medfuse.evaluate.budget import (
    clear_over_budget,
    over_budget,
    read_over_budget,
    should_retry,
    write_over_budget,
)
from medfuse.evaluate.cache import read_cached, write_cached
from medfuse.evaluate.records import FoldResult
from medfuse.evaluate.workers import Outcome


def from_cache(tasks: Sequence, cache_dir: Path, budget: float | None, retry_failed: bool,
               expected: Callable[[object], dict]) -> tuple[dict[str, FoldResult],
                                                           dict[str, str]]:
    """Finished fits read back from the cache (by task key), and the strategies left out
    (name -> message) because a fit of theirs was recorded over a budget not larger than
    ``budget`` (unless ``retry_failed``). ``tasks`` are the runner's tasks (``strategy``,
    ``key``); ``expected(task)`` is what its cached record must hold (see
    :func:`medfuse.evaluate.cache.read_cached`)."""
    done: dict[str, FoldResult] = {}
    errors: dict[str, str] = {}
    for t in tasks:
        fr = read_cached(cache_dir, t.key, expected(t))
        if fr is not None:
            done[t.key] = fr
            continue
        marker = read_over_budget(cache_dir, t.key)
        if marker is not None and not should_retry(marker, budget, retry_failed):
            errors.setdefault(t.strategy, f"{marker.message} (recorded by an earlier run; "
                                          "retry_failed / --retry-failed tries it again)")
    return done, errors


def record(outcome: Outcome, done: dict[str, FoldResult], errors: dict[str, str],
           cache_dir: Path | None, budget: float | None, write: bool = False) -> None:
    """Keep a finished fit in ``done``, or the reason its strategy is left out in
    ``errors`` (the first reason per strategy); a fit over budget also leaves its marker in
    the cache, and a finished one removes it. ``write``: also write the finished fit's
    cache entry (its task ran where this file system is not seen)."""
    task = outcome.item
    if outcome.skipped:
        return
    if outcome.over_budget:
        failure = over_budget(task.strategy, where(task), budget)
        if cache_dir is not None:
            write_over_budget(cache_dir, task.key, failure)
        errors.setdefault(task.strategy, failure.message)
        return
    if outcome.crashed is not None:
        errors.setdefault(task.strategy, f"{task.strategy}: fit on {where(task)} stopped: "
                                         f"its worker process died ({outcome.crashed})")
        return
    _, fr, err = outcome.value
    if fr is None:
        errors.setdefault(task.strategy, err)
        return
    done[task.key] = fr
    if cache_dir is not None:
        if write:
            write_cached(cache_dir, task.key, fr)
        clear_over_budget(cache_dir, task.key)


def where(task) -> str:
    """Where a task fits its strategy, in words (``split r0f1``)."""
    if task.split is not None:
        return f"split {task.split.label}"
    return ("the test-set refit" if task.seed is None
            else f"the test-set refit (seed {task.seed})")
