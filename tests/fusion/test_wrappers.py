"""Wrappers are composites (nested parameters, seeds forwarded, saved through their inner
strategy), and seeds reach every estimator a strategy fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

from medfuse.data import MultiModalData, RaggedBlock
from medfuse.evaluate import run_benchmark
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalClassifier
from medfuse.fusion.represented import RepresentedClassifier
from medfuse.fusion.wrappers import final_estimator
from medfuse.persist import read_manifest, save_model
from medfuse.predictor import Predictor


def watch_cohort(n: int = 80, seed: int = 0) -> MultiModalData:
    """A wearable series (ragged, with timestamps) whose slope carries the outcome, and an
    RNA table with a weaker signal."""
    rng = np.random.default_rng(seed)
    ids = [f"W{i:03d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    series, stamps = [], []
    for yi in y:
        t = int(rng.integers(15, 40))
        times = np.cumsum(rng.uniform(0.5, 1.5, t))
        series.append(np.vstack([(0.1 if yi else -0.1) * times + rng.normal(0, 0.4, t),
                                 rng.normal(0, 1, t)]))
        stamps.append(times)
    rna = pd.DataFrame(rng.normal(size=(n, 12)) + 0.4 * y[:, None], index=ids,
                       columns=[f"g{k}" for k in range(12)])
    return MultiModalData({"watch": RaggedBlock(ids, series, {"timestamps": stamps}),
                           "rna": rna}, obs=pd.DataFrame({"y": y}, index=ids), outcome="y",
                          modalities={"watch": "timeseries"})


def test_a_neural_strategy_with_representations_is_saved_and_loaded(tmp_path):
    """Bug 1: the wrapper of a neural strategy was refused by save_model ('has a torch
    module_ but no _build_module()')."""
    data = watch_cohort()
    model = make("intermediate", representations={"watch": "series-summary"}, n_ensemble=1,
                 max_epochs=3, n_threads=1, random_state=0).fit(data)
    save_model(model, tmp_path / "model", strategy="intermediate")
    assert read_manifest(tmp_path / "model")["torch_modules"] == ["estimator_"]
    loaded = Predictor.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.model.predict_proba(data), model.predict_proba(data))
    assert isinstance(loaded.model, RepresentedClassifier)


def test_the_representation_wrapper_forwards_its_seed_to_the_strategy():
    """Bug 2: the wrapper had no random_state, so the benchmark never seeded the strategy it
    wraps and two identical runs differed."""
    data = watch_cohort(90, seed=1)
    wrapped = make("late-mean", representations={"watch": "series-summary"})
    assert "random_state" in wrapped.get_params(deep=False)
    fitted = clone(wrapped).set_params(random_state=7).fit(data)
    assert fitted.estimator_.random_state == 7
    runs = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_benchmark(data, {"late-mean": wrapped}, folds=3, repeats=1,
                                   robustness=False)
        runs.append(result.results().set_index(["strategy", "metric", "split"])["mean"])
    pd.testing.assert_series_equal(runs[0], runs[1])


def test_make_gives_the_wrapper_the_strategy_seed_and_nested_parameters():
    wrapped = make("late-mean", representations={"watch": "series-summary"}, random_state=3)
    assert wrapped.random_state == 3 and wrapped.estimator.random_state == 3
    params = wrapped.get_params(deep=True)
    assert params["estimator__cv"] == 5
    wrapped.set_params(estimator__cv=3)
    assert wrapped.estimator.cv == 3


def test_a_user_base_estimator_gets_the_strategy_seed():
    """Planted bug (a): resolve_estimator no longer passing random_state to a user's base
    estimator whose own seed is unset."""
    data = watch_cohort(60, seed=2).select(["rna"])
    data = MultiModalData({"rna": data.block("rna"), "rna2": data.block("rna") ** 2},
                          obs=data.obs, outcome="y")
    forest = RandomForestClassifier(n_estimators=5)
    first = make("late-mean", base_estimator=forest, random_state=11).fit(data)
    assert {e.random_state for e in first.estimators_.values()} == {11}
    second = make("late-mean", base_estimator=forest, random_state=11).fit(data)
    np.testing.assert_array_equal(first.predict_proba(data), second.predict_proba(data))


def test_the_conformal_wrapper_seeds_the_strategy_it_fits():
    """Planted bug (b): the conformal wrapper no longer seeding its inner strategy."""
    data = watch_cohort(120, seed=3).select(["rna"])
    data = MultiModalData({"rna": data.block("rna"), "rna2": data.block("rna") ** 2},
                          obs=data.obs, outcome="y")
    models = [ConformalClassifier(make("late-mean"), random_state=5).fit(data)
              for _ in range(2)]
    seed = models[0]._inner_seed()
    assert all(m.estimator_.random_state == seed for m in models)
    np.testing.assert_array_equal(models[0].predict_p_values(data),
                                  models[1].predict_p_values(data))


def test_final_estimator_unwraps_nested_wrappers_and_their_data():
    data = watch_cohort(80, seed=4)
    inner = make("late-mean", representations={"watch": "series-summary"})
    model = ConformalClassifier(inner, random_state=0).fit(data)
    strategy, seen = final_estimator(model, data)
    assert type(strategy).__name__ == "LateFusion"
    assert seen.kinds["watch"] == "continuous"  # the represented block
    assert final_estimator(model) is strategy


@pytest.mark.parametrize("wrapper", ["represented", "conformal"])
def test_wrappers_no_longer_forward_fitted_attributes(wrapper):
    data = watch_cohort(80, seed=5)
    model = (make("late-mean", representations={"watch": "series-summary"}, random_state=0)
             if wrapper == "represented" else
             ConformalClassifier(make("late-mean", representations={
                 "watch": "series-summary"}), random_state=0))
    model.fit(data)
    with pytest.raises(AttributeError):
        _ = model.modality_weights_
    assert "watch" in final_estimator(model).modality_weights_.index
