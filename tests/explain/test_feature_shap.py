"""Feature attributions: SHAP on raw features and captum gradients, aggregated to modalities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from medfuse.data import make_cohort
from medfuse.explain import feature_shap, features, modality_shapley
from medfuse.explain.features import _Codec
from medfuse.fusion import FusionClassifier, make


@pytest.fixture(scope="module")
def additive(split):
    train, _ = split
    return make("additive", random_state=0).fit(train)


@pytest.fixture(scope="module")
def shap_additive(additive, split):
    train, test = split
    return feature_shap(additive, test[:24], background=train, n_background=8)


def test_codec_round_trip_keeps_predictions(additive, split):
    """Raw features (clinical categories as codes) decode to the same model input."""
    train, test = split
    codec = _Codec(additive, [additive.align(test), additive.align(train)])
    assert ("clinical", "stage") in codec.categories
    Z = codec.encode(0, additive.align(test))
    for i in (0, 5, 9):
        one = test[[i]]
        rebuilt = codec.decode(np.repeat(Z[i:i + 1], 3, axis=0), additive.align(one))
        np.testing.assert_allclose(additive.predict_proba(rebuilt),
                                   np.repeat(additive.predict_proba(one), 3, axis=0))


def test_shap_is_efficient_and_zero_for_missing(shap_additive, additive, split):
    _, test = split
    fa = shap_additive
    pred = additive.predict_proba(test[:24])
    np.testing.assert_allclose(fa.values.sum(axis=1) + fa.base_values, pred, atol=1e-10)
    sums = fa.modality_sums()
    lacking = ~test[:24].available.to_numpy()
    assert lacking.any()
    assert np.all(sums.to_numpy()[lacking] == 0.0)
    for m in sums.columns:
        cols = fa.frame().loc[:, m]
        assert cols.shape[1] == len(additive.feature_names_[m])


def test_shap_modality_sums_rank_like_modality_shapley(shap_additive, additive, split, rna_cohort):
    _, test = split
    fa = shap_additive
    by_feature = fa.modality_sums().abs().mean()
    by_modality = modality_shapley(additive, test[:24]).mean_abs()
    assert by_feature.idxmax() == by_modality.index[0] == "rna"
    rho = spearmanr(by_feature[by_modality.index], by_modality).statistic
    assert rho > 0.5 or by_feature.drop("rna").max() < 0.05 * by_feature["rna"]
    top = fa.top_features(3).query("modality == 'rna'")["feature"]
    truth = set(rna_cohort.uns["truth"]["informative_features"]["rna"])
    assert len(set(top) & truth) >= 2, (list(top), truth)


def test_shap_on_a_nonlinear_model_with_clinical_signal(fitted_local):
    """Signal in the clinical table (categorical and numeric columns): SHAP finds it."""
    data = make_cohort(150, effects={"rna": 0.0, "imaging": 0.0, "clinical": 3.0},
                       interaction=0.0, n_genes=15, n_imaging=8, random_state=4)
    model = type(fitted_local["test:mean-late"])().fit(data[:110])
    fa = feature_shap(model, data[110:130], background=data[:110], n_background=6)
    np.testing.assert_allclose(fa.values.sum(axis=1) + fa.base_values,
                               model.predict_proba(data[110:130]), atol=1e-10)
    sums = fa.modality_sums().abs().mean()
    assert sums.idxmax() == "clinical"
    assert modality_shapley(model, data[110:130]).mean_abs().index[0] == "clinical"
    top = fa.top_features(2).query("modality == 'clinical'")["feature"]
    assert set(top) <= {"age", "bmi", "stage", "smoking"}


def test_integrated_gradients_for_a_neural_strategy(fitted_local, split):
    _, test = split
    model = fitted_local["test:tiny-net"]
    fa = feature_shap(model, test)
    assert fa.method == "integrated_gradients"
    # completeness: attributions add up to f(x) - f(baseline)
    np.testing.assert_allclose(fa.values.sum(axis=1) + fa.base_values,
                               model.predict_proba(test), atol=2e-3)
    lacking = ~test.available.to_numpy()
    assert np.all(fa.modality_sums().to_numpy()[lacking] == 0.0)
    by_feature = fa.modality_sums().abs().mean()
    assert by_feature.idxmax() == modality_shapley(model, test).mean_abs().index[0] == "rna"
    gxi = feature_shap(model, test, method="gradient_x_input")
    assert gxi.modality_sums().abs().mean().idxmax() == "rna"
    with pytest.raises(ValueError, match="not a neural strategy"):
        feature_shap(fitted_local["test:mean-late"], test, method="integrated_gradients")


def test_modality_sums_agree_with_modality_shapley_for_every_strategy(split, fitted_local,
                                                                      fitted_registered):
    """Feature attributions summed per modality put the signal modality first, as modality
    Shapley values do (permutation SHAP for scikit-learn strategies, integrated gradients for
    neural ones)."""
    train, test = split
    sub = test[:20]
    for name, model in {**fitted_local, **fitted_registered}.items():
        if name == "late-vote":
            continue    # see test_late_vote_gives_every_modality_a_say
        fa = feature_shap(model, sub, background=train, n_background=3, n_permutations=1)
        sums = fa.modality_sums().abs().mean().sort_values(ascending=False)
        shapley = modality_shapley(model, sub).mean_abs()
        assert sums.index[0] == shapley.index[0] == "rna", (name, sums.to_dict(),
                                                            shapley.to_dict())


def test_feature_subset(additive, split, shap_additive):
    train, test = split
    genes = ["gene0000", "gene0001", "gene0002"]
    fa = feature_shap(additive, test[:6], background=train, n_background=8,
                      features={"rna": genes})
    np.testing.assert_allclose(fa.values.sum(axis=1) + fa.base_values,
                               additive.predict_proba(test[:6]), atol=1e-10)
    frame = fa.frame()
    others = [c for c in frame.columns if c[1] not in genes]
    assert (frame[others] == 0).all().all()
    with pytest.raises(ValueError, match="no column"):
        feature_shap(additive, test[:2], background=train, features={"rna": ["nope"]})


class _BlobLate(FusionClassifier):
    """Logistic regression on each image's central intensity, averaged with a clinical-age
    logistic model over the modalities a subject has (an array modality for the codec)."""

    def _fit(self, data, y):
        from sklearn.linear_model import LogisticRegression

        img = data.available["image"].to_numpy()
        cli = data.available["clinical"].to_numpy()
        self.img_ = LogisticRegression().fit(self._blob(data)[img], y[img])
        self.age_ = LogisticRegression().fit(self._age(data)[cli], y[cli])

    @staticmethod
    def _blob(data):
        x = data.block("image", available_only=False)
        h, w = x.shape[2:]
        return x[:, 0, h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean(axis=(1, 2))[:, None]

    @staticmethod
    def _age(data):
        return (data.block("clinical", available_only=False)[["age"]].to_numpy() - 60) / 8

    def _predict_proba(self, data):
        avail = data.available[["image", "clinical"]].to_numpy()
        total = np.zeros((len(data), 2))
        for j, (lr, x) in enumerate(((self.img_, self._blob), (self.age_, self._age))):
            rows = avail[:, j]
            if rows.any():
                total[rows] += lr.predict_proba(np.nan_to_num(x(data)[rows]))
        return total / avail.sum(axis=1, keepdims=True)


def test_array_modality_is_one_feature():
    data = make_cohort(120, effects={"rna": 0.0, "imaging": 0.0, "clinical": 0.0,
                                     "image": 3.0}, interaction=0.0, n_genes=10,
                       n_imaging=5, image_shape=(8, 8), missing={"image": 0.2},
                       random_state=8).select(["image", "clinical"])
    model = _BlobLate().fit(data[:90])
    fa = feature_shap(model, data[90:], background=data[:90], n_background=5)
    assert ("image", "(image)") in fa.features
    np.testing.assert_allclose(fa.values.sum(axis=1) + fa.base_values,
                               model.predict_proba(data[90:]), atol=1e-10)
    sums = fa.modality_sums().abs().mean()
    assert sums.idxmax() == "image"
    assert modality_shapley(model, data[90:]).mean_abs().index[0] == "image"


def test_codec_decodes_the_encoded_blocks_exactly(additive, split):
    """Numeric columns are written as one array per modality, categorical ones one by one;
    the rebuilt blocks hold the subject's own values in the model's column order."""
    _, test = split
    aligned = additive.align(test)
    codec = _Codec(additive, [aligned])
    Z = codec.encode(0, aligned)
    for i in (0, 3):
        rebuilt = codec.decode(Z[i:i + 1], aligned[[i]])
        for m in additive.modalities_:
            got = rebuilt.block(m, available_only=False)
            want = aligned[[i]].block(m, available_only=False)
            assert list(got.columns) == list(want.columns)
            for c in want.columns:
                a, b = got[c].iloc[0], want[c].iloc[0]
                assert (pd.isna(a) and pd.isna(b)) or a == b, (m, c)


def test_evaluation_in_row_chunks_and_the_memory_guard(additive, split, monkeypatch):
    """Evaluating the masked rows a few at a time changes nothing; a selection too wide for
    shap's masked matrix is refused with the way out."""
    train, test = split
    genes = ["gene0000", "gene0001", "gene0002"]
    whole = feature_shap(additive, test[:3], background=train, n_background=6,
                         features={"rna": genes})
    monkeypatch.setattr(features, "EVAL_CELLS", 50)
    chunked = feature_shap(additive, test[:3], background=train, n_background=6,
                           features={"rna": genes})
    np.testing.assert_allclose(chunked.values, whole.values, rtol=0, atol=1e-12)
    monkeypatch.setattr(features, "MAX_MASKED_CELLS", 100)
    with pytest.raises(ValueError, match="attribute a subset with features="):
        feature_shap(additive, test[:3], background=train, n_background=6)
