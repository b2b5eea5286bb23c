"""The simulator's stated properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from medfuse.data import make_cohort


def test_seeded_reproducible():
    a = make_cohort(50, random_state=3, missing={"imaging": 0.2})
    b = make_cohort(50, random_state=3, missing={"imaging": 0.2})
    pd.testing.assert_frame_equal(a.block("rna"), b.block("rna"))
    assert a.available.equals(b.available)
    assert not make_cohort(50, random_state=4).block("rna").equals(a.block("rna"))


def test_counts_are_overdispersed():
    data = make_cohort(400, batch_effect=0, random_state=0)
    counts = data.block("rna").to_numpy(dtype=float)
    # Normalise by size factor so that only biological + NB variation remains.
    norm = counts / (counts.sum(axis=1, keepdims=True) / counts.sum(axis=1).mean())
    mean, var = norm.mean(axis=0), norm.var(axis=0, ddof=1)
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    assert np.mean(var > mean) > 0.95
    assert np.median(var / mean) > 2


def test_batch_effect_present_and_removable_by_setting():
    with_batch = make_cohort(300, n_batches=3, batch_effect=1.5, random_state=1)
    without = make_cohort(300, n_batches=3, batch_effect=0.0, random_state=1)

    def batch_auc(data):
        x = data.block("imaging").to_numpy()
        b = data.obs["batch"].cat.codes.to_numpy()
        proba = cross_val_predict(LogisticRegression(max_iter=2000), x, b, cv=5,
                                  method="predict_proba")
        return roc_auc_score(b, proba, multi_class="ovr")

    assert batch_auc(with_batch) > 0.9
    assert batch_auc(without) < 0.65


def test_each_modality_and_interaction_drive_the_outcome():
    data = make_cohort(4000, effects={"rna": 1.0, "imaging": 1.0, "clinical": 1.0},
                       interaction=1.0, random_state=2)
    latent = data.uns["truth"]["latent"]
    y = data.y.to_numpy()
    design = np.column_stack([latent[["rna", "imaging", "clinical"]],
                              latent["rna"] * latent["imaging"]])
    coef = LogisticRegression(C=1e6, max_iter=1000).fit(design, y).coef_[0]
    np.testing.assert_allclose(coef, [1, 1, 1, 1], atol=0.2)


def test_single_modality_outcome_and_noise_modality():
    data = make_cohort(600, effects={"rna": 2, "imaging": 0, "clinical": 0}, interaction=0,
                       n_noise_modalities=1, random_state=3)
    latent = data.uns["truth"]["latent"]
    y = data.y.to_numpy()
    assert roc_auc_score(y, latent["rna"]) > 0.8
    for m in ("imaging", "clinical", "noise1"):
        assert abs(roc_auc_score(y, latent[m]) - 0.5) < 0.07


def test_missing_rates_and_mechanisms():
    n, rate = 3000, 0.3
    mcar = make_cohort(n, missing={"imaging": rate}, missing_mechanism="MCAR", random_state=4)
    mar = make_cohort(n, missing={"imaging": rate}, missing_mechanism="MAR", random_state=4)
    mnar = make_cohort(n, missing={"imaging": rate}, missing_mechanism="MNAR", random_state=4)
    for data in (mcar, mar, mnar):
        assert abs(1 - data.available["imaging"].mean() - rate) < 0.03

    def auc_from_age(data):
        miss = ~data.available["imaging"].to_numpy()
        return roc_auc_score(miss, data.block("clinical")["age"].to_numpy())

    assert abs(auc_from_age(mcar) - 0.5) < 0.04   # MCAR: not predictable from observed age
    assert auc_from_age(mar) > 0.75               # MAR: predictable from observed age
    assert abs(auc_from_age(mnar) - 0.5) < 0.06   # MNAR: depends on the unobserved value
    latent = mnar.uns["truth"]["latent"]["imaging"].to_numpy()
    assert roc_auc_score(~mnar.available["imaging"].to_numpy(), latent) > 0.75
    # Everyone keeps at least one modality.
    heavy = make_cohort(500, missing={"rna": 0.6, "imaging": 0.6, "clinical": 0.6},
                        random_state=5)
    assert heavy.available.any(axis=1).all()


def test_confounding_and_survival_and_multiclass():
    conf = make_cohort(400, confounding=1.0, random_state=6)
    codes = conf.obs["batch"].cat.codes.to_numpy()
    assert (codes == conf.y.to_numpy() % 2).all()
    surv = make_cohort(300, task="survival", random_state=7)
    assert {"time", "event"} <= set(surv.obs.columns) and surv.outcome is None
    eta = surv.uns["truth"]["latent"][["rna", "imaging"]].sum(axis=1)
    rho, _ = stats.spearmanr(eta, surv.obs["time"])
    assert rho < -0.2
    multi = make_cohort(300, task="multiclass", n_classes=3, random_state=8)
    assert sorted(multi.y.unique()) == [0, 1, 2]


def test_image_and_series_modalities():
    data = make_cohort(40, image_shape=(16, 16), series_shape=(2, 30), random_state=9)
    img = data.block("image")
    assert img.shape == (40, 1, 16, 16) and data.kinds["image"] == "image"
    centre = img[:, 0, 6:10, 6:10].mean(axis=(1, 2))
    assert stats.pearsonr(centre, data.uns["truth"]["latent"]["image"])[0] > 0.8
    assert data.block("timeseries").shape == (40, 2, 30)
    vol = make_cohort(4, image_shape=(8, 8, 8), random_state=0).block("image")
    assert vol.shape == (4, 1, 8, 8, 8)


def test_latent_correlation_couples_the_modalities():
    import numpy as np

    from medfuse.data import make_cohort

    cohort = make_cohort(4000, n_genes=20, latent_correlation=0.6, random_state=0)
    latent = cohort.uns["truth"]["latent"][["rna", "imaging", "clinical"]]
    corr = np.corrcoef(latent.to_numpy().T)[np.triu_indices(3, 1)]
    np.testing.assert_allclose(corr, 0.6, atol=0.04)
    np.testing.assert_allclose(latent.std().to_numpy(), 1.0, atol=0.04)
    independent = make_cohort(4000, n_genes=20, random_state=0).uns["truth"]["latent"]
    assert abs(np.corrcoef(independent["rna"], independent["imaging"])[0, 1]) < 0.05
