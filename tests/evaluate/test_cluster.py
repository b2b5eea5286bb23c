"""The benchmark on a Dask cluster (:mod:`medfuse.evaluate.cluster`): the same results as
the serial run to the last bit, the data sent to each worker once, the cache written by
the client and reused by ``resume``, a worker that dies mid-fit retried on another, a fit
over budget stopped, and clear errors for a cluster that cannot be used."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from medfuse.data.simulate import make_cohort
from medfuse.evaluate import run_benchmark
from medfuse.evaluate.cluster import ClusterError, check_workers, connect
from tests.reference_strategies import MeanLogistic
from tests.slow_strategies import Dying, Sleepy


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(60, random_state=3, missing={"imaging": 0.25})


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker cluster on loopback, shared by the tests that connect by address."""
    from distributed import LocalCluster

    from medfuse.evaluate.workers import THREAD_ENV

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", env=dict(THREAD_ENV)) as running:
        yield running


def _same(a, b) -> None:
    """Two benchmark results with the same fits and the same numbers to the last bit."""
    def by_key(result):
        return {(f.strategy, f.kind, f.split): f for f in result.folds}

    fa, fb = by_key(a), by_key(b)
    assert fa.keys() == fb.keys()
    for key, f in fa.items():
        g = fb[key]
        assert f.subjects == g.subjects and f.y == g.y
        assert f.proba.keys() == g.proba.keys()
        for subset, values in f.proba.items():
            assert np.array_equal(np.asarray(values, float), np.asarray(g.proba[subset], float),
                                  equal_nan=True), (key, subset)


def test_local_cluster_equals_serial_run_and_caches_for_resume(cohort, tmp_path):
    kwargs = {"folds": 3, "repeats": 1, "ensemble": True}
    strategies = ["late-mean", "early"]
    serial = run_benchmark(cohort, strategies, **kwargs)
    spread = run_benchmark(cohort, strategies, scheduler="local", jobs=2, out=tmp_path,
                           **kwargs)
    _same(serial, spread)
    assert spread.settings["scheduler"] == "local"
    pd.testing.assert_frame_equal(spread.robustness(), serial.robustness())
    assert spread.settings["handed_over"] == serial.settings["handed_over"]
    # the client wrote every fit's cache entry; a resumed run refits nothing
    assert len(list((tmp_path / "cache").glob("*.json"))) == spread.settings["fits"]
    again = run_benchmark(cohort, strategies, out=tmp_path, resume=True, **kwargs)
    assert again.settings["reused"] == again.settings["fits"]
    _same(serial, again)


#: times a :class:`Payload` was pickled in this process
PICKLED = {"n": 0}


class Payload:
    """Shared data that counts how often it is pickled here (sent somewhere)."""

    def __init__(self, values):
        self.values = values

    def __reduce__(self):
        PICKLED["n"] += 1
        return (Payload, (self.values,))


def _task(item: int, payload: Payload) -> float:
    return float(payload.values[item]) * 2


def test_the_shared_data_go_to_the_workers_once(cluster):
    from medfuse.evaluate.cluster import DaskPool

    PICKLED["n"] = 0
    payload = Payload(np.arange(40.0))
    with DaskPool(_task, (payload,), cluster.scheduler_address) as pool:
        got = {o.item: o.value for o in pool.run(range(40))}
    assert got == {i: 2.0 * i for i in range(40)}
    assert 1 <= PICKLED["n"] <= len(cluster.workers)  # not once per task


def test_existing_scheduler_by_address_equals_serial_run(cohort, cluster):
    result = run_benchmark(cohort, {"mean": MeanLogistic()}, folds=3, repeats=2,
                           scheduler=cluster.scheduler_address)
    serial = run_benchmark(cohort, {"mean": MeanLogistic()}, folds=3, repeats=2)
    _same(serial, result)


def test_a_worker_that_dies_mid_fit_is_retried_on_another(cohort, cluster, tmp_path):
    marker = tmp_path / "died-once"
    strategies = {"dying": Dying(marker=str(marker)), "mean": MeanLogistic()}
    result = run_benchmark(cohort, strategies, folds=3, repeats=1, robustness=False,
                           scheduler=cluster.scheduler_address)
    assert marker.exists()  # one fit did kill its worker
    assert not result.errors
    serial = run_benchmark(cohort, {"dying": MeanLogistic(tag="dying"), "mean": MeanLogistic()},
                           folds=3, repeats=1, robustness=False)
    _same(serial, result)


def test_a_fit_over_budget_is_stopped_and_the_others_go_on(cohort):
    strategies = {"sleepy": Sleepy(seconds=60), "mean": MeanLogistic()}
    result = run_benchmark(cohort, strategies, folds=3, repeats=1, robustness=False,
                           scheduler="local", jobs=2, budget=2.0)
    assert "sleepy" in result.errors and "budget" in result.errors["sleepy"]
    assert result.strategies == ["mean"]
    assert len([f for f in result.folds if f.strategy == "mean"]) == 3


def test_a_scheduler_that_cannot_be_reached_is_named():
    with pytest.raises(ClusterError, match=r"tcp://127\.0\.0\.1:9 cannot be reached"):
        connect("tcp://127.0.0.1:9")


class _Client:
    """What :func:`check_workers` asks of a client, answered as a cluster would."""

    class scheduler:
        address = "tcp://10.0.0.1:8786"

    def __init__(self, versions):
        self.versions = versions

    def wait_for_workers(self, n, timeout):
        return None

    def run(self, function, *args, on_error="raise"):
        assert function is importlib.metadata.version and args == ("medfuse",)
        return dict(self.versions)


def test_a_worker_without_medfuse_is_named():
    import medfuse

    missing = importlib.metadata.PackageNotFoundError("medfuse")
    client = _Client({"tcp://10.0.0.2:4001": medfuse.__version__,
                      "tcp://10.0.0.3:4001": missing})
    with pytest.raises(ClusterError, match=r"not installed on Dask worker\(s\) "
                                           r"tcp://10\.0\.0\.3:4001"):
        check_workers(client)
    other = _Client({"tcp://10.0.0.2:4001": "0.0.1"})
    with pytest.raises(ClusterError, match=r"tcp://10\.0\.0\.2:4001 \(0\.0\.1\).*another"):
        check_workers(other)
    assert check_workers(_Client({"w": medfuse.__version__})) == {"w": medfuse.__version__}
