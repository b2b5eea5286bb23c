"""Representations turn raw modalities into feature blocks, inside every fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from medfuse.data import MultiModalData, RaggedBlock
from medfuse.fusion import make
from medfuse.represent import (
    ImageStatistics,
    RepresentationStep,
    SeriesSummary,
    make_representation,
    representation_names,
)


def test_series_summary_known_answers_for_any_length_and_sampling():
    t = [np.array([0.0, 1.0, 3.0]), np.linspace(0, 10, 50)]
    slopes, offsets = [2.0, -0.5], [1.0, 4.0]
    values = [np.vstack([a * ti + b, np.full_like(ti, 7.0)])
              for ti, a, b in zip(t, slopes, offsets, strict=True)]
    block = RaggedBlock(["s1", "s2"], values, {"timestamps": t})
    out = SeriesSummary().fit(block).transform(block)
    assert list(out.index) == ["s1", "s2"]
    np.testing.assert_allclose(out["c0_slope"], slopes, atol=1e-12)
    np.testing.assert_allclose(out["c1_slope"], 0.0, atol=1e-12)
    np.testing.assert_allclose(out["c1_sd"], 0.0, atol=1e-12)
    np.testing.assert_allclose(out["c0_min"], [1.0, -1.0])
    np.testing.assert_allclose(out["c0_mean"], [2.0 * 4 / 3 + 1.0, 4.0 - 0.5 * 5.0])
    dense = np.stack([np.arange(6.0)[None, :] * 3.0])
    np.testing.assert_allclose(
        SeriesSummary(sampling_interval=0.5).fit(dense).transform(dense)["c0_slope"], [6.0])


def test_image_statistics_use_the_mask_and_the_voxel_spacing():
    rng = np.random.default_rng(0)
    images, masks = [], []
    for shape in [(6, 7, 5), (9, 4, 3)]:
        img = rng.normal(size=(1, *shape))
        mask = np.zeros(shape, dtype=np.uint8)
        mask[1:4, 1:3, :2] = 1  # 3 x 2 x 2 = 12 voxels
        img[0][mask == 1] = np.arange(12.0)
        images.append(img)
        masks.append(mask)
    meta = pd.DataFrame({"spacing": pd.Series([(0.5, 1.0, 2.0), (1.0, 1.0, 1.0)],
                                              index=["a", "b"], dtype=object)})
    block = RaggedBlock(["a", "b"], images, {"mask": masks}, meta)
    out = ImageStatistics().fit(block).transform(block)
    np.testing.assert_allclose(out["volume"], [12 * 1.0, 12 * 1.0])
    np.testing.assert_allclose(out["c0_mean"], 5.5)
    np.testing.assert_allclose(out["c0_max"], 11.0)
    np.testing.assert_allclose(out["c0_p50"], 5.5)
    spaced = RaggedBlock(["a"], images[:1], {"mask": masks[:1]},
                         pd.DataFrame({"spacing": pd.Series([(2.0, 2.0, 2.0)], index=["a"],
                                                            dtype=object)}))
    assert ImageStatistics().fit(spaced).transform(spaced)["volume"].iloc[0] == 12 * 8.0


def _series_cohort(n=120, seed=0):
    """Ragged series whose slope is the outcome's signal; a clinical table of noise."""
    rng = np.random.default_rng(seed)
    ids = [f"S{i:03d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    series = []
    for yi in y:
        t = rng.integers(20, 60)
        series.append(np.vstack([(0.05 if yi else -0.05) * np.arange(t)
                                 + rng.normal(0, 0.3, t)]))
    noise = pd.DataFrame(rng.normal(size=(n, 3)), index=ids, columns=["a", "b", "c"])
    obs = pd.DataFrame({"y": y}, index=ids)
    return MultiModalData({"ecg": RaggedBlock(ids, series), "noise": noise}, obs=obs,
                          outcome="y", modalities={"ecg": "timeseries"})


def test_a_strategy_sees_represented_ragged_series_and_is_refitted_per_fold():
    data = _series_cohort()
    model = make("late-mean", representations={"ecg": "series-summary"}, random_state=0)
    train, test = data[:80], data[80:]
    model.fit(train)
    assert model.modalities_ == ["ecg", "noise"]
    assert set(model.estimator_.modality_kinds_.values()) == {"continuous"}
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(test.y, model.predict_proba(test)[:, 1])
    assert auc > 0.95
    # the representation saw only the training subjects
    assert model.step_.representations_["ecg"].n_channels_ == 1
    assert list(model.estimator_.modality_weights_.index) == ["ecg", "noise"]
    only_noise = model.predict_proba(test.hide("ecg"))
    assert np.allclose(only_noise, only_noise[0], atol=0.2)
    twin = clone(model)
    assert twin.get_params()["representations"] == {"ecg": "series-summary"}


def test_the_step_fits_on_training_subjects_only():
    class Recording(SeriesSummary):
        def fit(self, X, y=None):
            self.seen_ = list(X.ids)
            return super().fit(X, y)

    data = _series_cohort(30)
    step = RepresentationStep({"ecg": Recording()}).fit(data[:20])
    assert step.representations_["ecg"].seen_ == list(data.subjects[:20])
    out = step.transform(data[20:])
    assert out.kinds["ecg"] == "continuous" and out.block("ecg").shape == (10, 5)
    assert list(out.block("ecg").index) == list(data.subjects[20:])


def test_registry_and_errors():
    assert {"flatten", "kmer", "series-summary", "image-statistics"} <= set(
        representation_names())
    assert make_representation({"name": "kmer", "params": {"k": 2}}).k == 2
    with pytest.raises(ValueError, match="Unknown representation 'nope'"):
        make_representation("nope")
    with pytest.raises(ValueError, match="different shapes"):
        make_representation("flatten").fit(_series_cohort(20).block("ecg"))


def test_the_default_features_of_ragged_series_are_their_resampled_values():
    """A ragged series becomes features by the timeseries kind's ``series-values``: each
    series resampled to the median training length, flattened and z-scored."""
    data = _series_cohort(60, seed=2)
    model = make("unimodal:ecg", random_state=0).fit(data)
    steps = model.preprocessors_["ecg"].named_steps
    lengths = [a.shape[-1] for a in data.block("ecg").values]
    assert steps["seriesresampler"].length_ == int(np.median(lengths))
    assert model.n_block_features_["ecg"] == int(np.median(lengths))


def test_neural_strategies_read_ragged_series_through_the_kinds_neural_input():
    """The timeseries kind's neural input resamples ragged series to the median training
    length, so a neural strategy learns from them without a representation."""
    from sklearn.metrics import roc_auc_score

    data = _series_cohort(160, seed=3)
    model = make("intermediate", max_epochs=60, n_ensemble=1, n_threads=1, random_state=0,
                 patience=60)
    model.fit(data[:120])
    resampler = model.preprocessors_["ecg"].steps[0][1]
    lengths = [a.shape[-1] for a in data[:120].block("ecg").values]
    assert resampler.length_ == int(np.median(lengths))
    assert model.input_shapes_["ecg"] == (1, resampler.length_)
    auc = roc_auc_score(data[120:].y, model.predict_proba(data[120:])[:, 1])
    assert auc > 0.85


def test_a_study_file_represents_ragged_streams_inside_the_benchmark(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from medfuse.cli import app
    from medfuse.predictor import Predictor

    data = _series_cohort(90, seed=1)
    data.block("ecg").to_npz(tmp_path / "ecg.npz")
    data.block("noise").to_csv(tmp_path / "noise.csv")
    data.obs.to_csv(tmp_path / "labels.csv")
    study = {"name": "streams", "outcome": {"file": "labels.csv", "column": "y"},
             "modalities": {"ecg": {"file": "ecg.npz", "kind": "timeseries"},
                            "noise": {"file": "noise.csv"}},
             "representations": {"ecg": {"name": "series-summary",
                                         "params": {"statistics": ["mean", "slope"]}}},
             "strategies": ["unimodal:ecg", "late-mean"], "cv": {"folds": 3, "repeats": 1}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["benchmark", str(tmp_path / "study.yaml"), "--out",
                                      str(out), "--no-explain", "--no-robustness"])
    assert result.exit_code == 0, result.output
    res = pd.read_csv(out / "results.csv")
    auc = res[(res.metric == "roc_auc") & (res.split == "cv")].set_index("strategy")["mean"]
    assert auc["unimodal:ecg"] > 0.95 and auc["late-mean"] > 0.9
    predictor = Predictor.load(out / "model")
    members = getattr(predictor.model, "members_", {"": predictor.model})   # an ensemble
    for member in members.values():
        assert member.step_.feature_names_["ecg"] == ["c0_mean", "c0_slope"]
    table = predictor.predict(data)
    np.testing.assert_allclose(table.filter(like="proba_").to_numpy(),
                               predictor.model.predict_proba(data))
    with pytest.raises(ValueError, match="unknown representation 'spline'"):
        from medfuse.config import parse_study

        parse_study({**study, "representations": {"ecg": "spline"}}, tmp_path)


def test_a_neural_input_left_ragged_is_refused_with_a_representation_of_its_kind():
    """Where a modality still reaches an encoder as a ragged block (here a preprocessor
    that passes it through), the refusal suggests a representation registered for its kind,
    not one for images."""
    from sklearn.preprocessing import FunctionTransformer

    data = _series_cohort(30)
    model = make("intermediate", max_epochs=1, n_ensemble=1, n_threads=1,
                 preprocessors={"ecg": FunctionTransformer()})
    with pytest.raises(ValueError) as err:
        model.fit(data)
    message = str(err.value)
    assert "Modality 'ecg' (timeseries) reaches the neural strategies as a RaggedBlock" in message
    assert "representations={'ecg': 'series-summary'}" in message
    assert "image-statistics" not in message
