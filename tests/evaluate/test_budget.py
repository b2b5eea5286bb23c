"""The time budget of a benchmark fit: a fit over budget is killed in its worker process,
recorded as failed, remembered across --resume, and nothing waits behind it."""

import json
import os
import time
import warnings

import pandas as pd
import pytest

from medfuse.evaluate import run_benchmark
from medfuse.evaluate.budget import (
    DEFAULT_BUDGET,
    over_budget,
    read_over_budget,
    should_retry,
    write_over_budget,
)
from tests import reference_strategies as ref
from tests.slow_strategies import Sleepy


class _OtherProcess:
    """Equal to the text of any process ID but this one's."""

    def __eq__(self, other) -> bool:
        return isinstance(other, str) and other.isdigit() and int(other) != os.getpid()


ANY_PID = _OtherProcess()
MESSAGE = ("stuck: fit on split r0f0 exceeded the 2 s budget; raise budget: in the study "
           "file (or --budget) or exclude the strategy")


@pytest.fixture(scope="module")
def cohort():
    return ref.tiny_cohort(48, seed=1, missing=0.2)


def test_a_fit_over_budget_is_stopped_and_the_strategies_after_it_run(cohort, tmp_path):
    trace = tmp_path / "fits-started.txt"
    est = {"stuck": Sleepy(seconds=300, trace=str(trace), tag="stuck"),
           "fast": ref.MeanLogistic(tag="fast")}
    kw = {"folds": 3, "repeats": 1, "robustness": False, "out": tmp_path / "out", "jobs": 1}
    start = time.perf_counter()
    res = run_benchmark(cohort, est, budget=2, **kw)
    # the stuck fit alone would take 300 s: it was killed, not waited for
    assert time.perf_counter() - start < 100
    assert res.errors == {"stuck": MESSAGE}
    assert res.strategies == ["fast"]
    assert sorted(fr.split for fr in res.folds) == ["r0f0", "r0f1", "r0f2"]
    # one fit of the stuck strategy started, in a worker process with one BLAS thread; its
    # other splits were not attempted
    assert [line.split() for line in trace.read_text().splitlines()] == [[ANY_PID, "1"]]
    # the fast strategy's numbers are those of a run in this process without a budget
    plain = run_benchmark(cohort, {"fast": ref.MeanLogistic(tag="fast")}, folds=3, repeats=1,
                          robustness=False)
    pd.testing.assert_frame_equal(res.results(), plain.results())
    markers = list((tmp_path / "out" / "cache").glob("*.failed.json"))
    assert len(markers) == 1
    assert json.loads(markers[0].read_text()) == {
        "strategy": "stuck", "split": "split r0f0", "budget": 2.0, "message": MESSAGE}

    # --resume with the same budget: the stuck fit is not tried again
    again = run_benchmark(cohort, est, budget=2, resume=True, **kw)
    assert len(trace.read_text().splitlines()) == 1
    assert again.errors["stuck"].startswith(MESSAGE)
    assert "earlier run" in again.errors["stuck"]
    assert again.settings["reused"] == 3 and again.settings["fits"] == 6
    pd.testing.assert_frame_equal(res.results(), again.results())

    # asked to retry, it is tried again (and fails again, within the new budget)
    retried = run_benchmark(cohort, est, budget=1, resume=True, retry_failed=True, **kw)
    assert len(trace.read_text().splitlines()) == 2
    assert retried.errors["stuck"].startswith("stuck: fit on split r0f0 exceeded the 1 s")


def test_a_larger_budget_on_resume_lets_a_slow_strategy_finish(cohort, tmp_path):
    est = {"slow": Sleepy(seconds=5, tag="slow"), "fast": ref.MeanLogistic(tag="fast")}
    kw = {"jobs": 2, "folds": 2, "repeats": 1, "robustness": False, "out": tmp_path}
    res = run_benchmark(cohort, est, budget=2, **kw)
    assert set(res.errors) == {"slow"} and "exceeded the 2 s budget" in res.errors["slow"]
    assert {fr.strategy for fr in res.folds} == {"fast"} and len(res.folds) == 2
    assert list(tmp_path.glob("cache/*.failed.json"))
    again = run_benchmark(cohort, est, budget=60, resume=True, **kw)
    assert again.errors == {} and again.strategies == ["slow", "fast"]
    assert again.settings["reused"] == 2
    assert not list(tmp_path.glob("cache/*.failed.json"))  # a fit that succeeds clears it


def test_markers_round_trip_and_invalid_ones_are_ignored(tmp_path):
    record = over_budget("block-pls", "split r0f1", 600)
    assert record.message == ("block-pls: fit on split r0f1 exceeded the 600 s budget; raise "
                              "budget: in the study file (or --budget) or exclude the "
                              "strategy")
    write_over_budget(tmp_path, "abc", record)
    assert read_over_budget(tmp_path, "abc") == record
    assert read_over_budget(tmp_path, "other") is None
    for bad in ({"strategy": "x", "split": "y", "budget": -1, "message": "z"},
                {"strategy": "x", "split": "y", "budget": 1, "message": "z", "code": "run"},
                ["not", "a", "record"]):
        (tmp_path / "bad.failed.json").write_text(json.dumps(bad))
        with pytest.warns(UserWarning, match="bad.failed.json"):
            assert read_over_budget(tmp_path, "bad") is None
    (tmp_path / "bad.failed.json").write_text("{not json")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert read_over_budget(tmp_path, "bad") is None
    assert seen


def test_a_larger_budget_or_retry_failed_tries_again():
    record = over_budget("slow", "split r0f0", 600)
    assert not should_retry(record, 600, retry_failed=False)
    assert not should_retry(record, 300, retry_failed=False)
    assert should_retry(record, 601, retry_failed=False)
    assert should_retry(record, None, retry_failed=False)
    assert should_retry(record, 300, retry_failed=True)


def test_studies_default_to_the_documented_budget():
    import inspect

    from medfuse.config import Study
    from medfuse.study import run_study

    assert DEFAULT_BUDGET == 1800
    assert inspect.signature(run_study).parameters["budget"].default == DEFAULT_BUDGET
    assert Study.model_fields["budget"].default == DEFAULT_BUDGET


def test_budget_must_be_positive(cohort):
    with pytest.raises(ValueError, match="budget"):
        run_benchmark(cohort, {"fast": ref.MeanLogistic()}, budget=0, folds=3, repeats=1)


def test_workers_get_the_registrations_made_outside_medfuse():
    from medfuse.plugins import restore, snapshot
    from tests.slow_strategies import registered

    with registered():
        taken = snapshot()
    strategies = taken[("medfuse.fusion.registry", "_REGISTRY")]
    assert set(strategies) == {"sleepy", "late-mean-ref"}  # no built-in is shipped
    assert strategies["sleepy"].cls is Sleepy
    from medfuse.fusion.registry import _REGISTRY, strategy_names

    assert "sleepy" not in strategy_names()
    saved = dict(_REGISTRY)
    try:
        restore(taken)
        assert "sleepy" in _REGISTRY and _REGISTRY["sleepy"].cls is Sleepy
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


def test_jobs_count_worker_processes():
    from joblib import cpu_count

    from medfuse.evaluate.workers import n_workers

    assert n_workers(3) == 3
    assert n_workers(-1) == cpu_count() and n_workers(-cpu_count() - 5) == 1
    with pytest.raises(ValueError, match="jobs"):
        n_workers(0)
