"""Contract of the neural strategies: attention outputs, persistence, explanation hooks,
image and timeseries encoders, training helpers."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import clone

from medfuse.data import MultiModalData
from medfuse.data.simulate import make_cohort
from medfuse.fusion import available, make
from medfuse.fusion._class_weight import class_weights
from medfuse.fusion.neural.encoders import (
    ImageEncoder,
    RecurrentSeriesEncoder,
    SeriesEncoder,
    n_downsamplings,
)
from medfuse.fusion.neural.train import drop_modalities, inner_split

NAMES = ["intermediate", "attention", "cross-attention"]
FAST = {"max_epochs": 5, "random_state": 0, "n_ensemble": 1}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(120, n_genes=30, n_imaging=15, missing={"rna": 0.3, "imaging": 0.2},
                       random_state=5)


def test_registered_with_image_and_timeseries_kinds():
    table = available()
    for name in NAMES:
        kinds = table.loc[name, "kinds"].split(",")
        assert {"image", "timeseries", "continuous", "counts", "clinical"} <= set(kinds)
        assert table.loc[name, "family"] == "neural"


@pytest.mark.parametrize("name", NAMES)
def test_clone_and_params(name):
    est = make(name, latent_dim=8, dropout=0.1)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert twin.latent_dim == 8


def test_attention_weights_sum_to_one_and_are_zero_when_missing(cohort):
    est = make("attention", **FAST).fit(cohort)
    w = est.attention_weights(cohort)
    assert list(w.index) == list(cohort.subjects)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    avail = cohort.available[est.modalities_].to_numpy()
    assert (w.to_numpy()[~avail] == 0).all()
    assert (w.to_numpy()[avail] > 0).all()


def test_cross_attention_maps(cohort):
    est = make("cross-attention", n_heads=4, **FAST).fit(cohort)
    maps = est.cross_attention_maps(cohort)
    n, m = len(cohort), len(est.modalities_)
    assert maps.shape == (n, 4, m, m)
    avail = cohort.available[est.modalities_].to_numpy()
    rows = maps.sum(axis=3)  # (n, heads, query)
    np.testing.assert_allclose(rows[np.broadcast_to(avail[:, None, :], rows.shape)], 1.0,
                               rtol=1e-5)
    assert (rows[np.broadcast_to(~avail[:, None, :], rows.shape)] == 0).all()
    keys_missing = np.broadcast_to(~avail[:, None, None, :], maps.shape)
    assert (maps[keys_missing] == 0).all()
    w = est.attention_weights(cohort)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_persistence_round_trip_by_hand(name, cohort, tmp_path):
    est = make(name, **FAST).fit(cohort)
    expected = est.predict_proba(cohort)
    # Save: the estimator without module_ (plain Python/numpy/sklearn objects) + weights.
    save_file({k: v.contiguous() for k, v in est.module_.state_dict().items()},
              tmp_path / "weights.safetensors")
    state = dict(est.__dict__)
    del state["module_"]
    blob = pickle.dumps(state)
    assert b"torch" not in blob  # nothing torch outside module_
    # Load into a fresh estimator.
    loaded = type(est).__new__(type(est))
    loaded.__dict__.update(pickle.loads(blob))
    loaded.module_ = loaded._build_module()
    loaded.module_.load_state_dict(load_file(tmp_path / "weights.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(cohort), expected)


@pytest.mark.parametrize("name", NAMES)
def test_torch_inputs_give_logits_and_gradients(name, cohort):
    est = make(name, **FAST).fit(cohort)
    inputs, mask = est._torch_inputs(cohort)
    assert len(inputs) == len(est.modalities_)
    assert mask.dtype == torch.bool and tuple(mask.shape) == (len(cohort), 3)
    inputs = [x.clone().requires_grad_(True) for x in inputs]
    logits = est.module_(inputs, mask)
    np.testing.assert_allclose(torch.softmax(logits, 1).detach().numpy(),
                               est.predict_proba(cohort), rtol=1e-5, atol=1e-6)
    logits[:, 1].sum().backward()
    for j, x in enumerate(inputs):
        g = x.grad.numpy()
        assert np.isfinite(g).all()
        # Subjects lacking a modality never reach its encoder: zero gradient there.
        assert (g[~mask[:, j].numpy()] == 0).all()
        assert np.abs(g[mask[:, j].numpy()]).sum() > 0


def test_missing_rows_never_reach_the_encoder(cohort):
    est = make("intermediate", **FAST).fit(cohort)
    inputs, mask = est._torch_inputs(cohort)
    j = est.modalities_.index("rna")
    poisoned = [x.clone() for x in inputs]
    poisoned[j][~mask[:, j]] = float("nan")
    with torch.no_grad():
        out = est.module_(poisoned, mask)
    assert torch.isfinite(out).all()


def test_image_2d_16_and_3d_64_train():
    data = make_cohort(60, image_shape=(16, 16), n_genes=30, n_imaging=10,
                       effects={"image": 3.0}, random_state=0)
    est = make("intermediate", max_epochs=3, n_ensemble=1, random_state=0).fit(data)
    assert est.input_shapes_["image"] == (1, 16, 16)
    p = est.predict_proba(data.select(["image"]))
    assert np.isfinite(p).all()
    vol = make_cohort(8, image_shape=(64, 64, 64), n_genes=20, n_imaging=10, random_state=0)
    est3 = make("attention", max_epochs=1, n_ensemble=1, batch_size=8, validation_fraction=0,
                random_state=0).fit(vol)
    assert est3.input_shapes_["image"] == (1, 64, 64, 64)
    assert np.isfinite(est3.predict_proba(vol)).all()


def test_image_encoder_adapts_to_small_images():
    assert n_downsamplings((16, 16)) == 2
    assert n_downsamplings((64, 64, 64)) == 4
    assert n_downsamplings((5, 7)) == 0
    for spatial in [(5, 7), (16, 16), (9, 9, 9)]:
        enc = ImageEncoder(2, spatial, latent_dim=6)
        assert enc(torch.zeros(3, 2, *spatial)).shape == (3, 6)


def test_timeseries_trains_and_learns():
    data = make_cohort(300, series_shape=(3, 40), n_genes=30, n_imaging=10,
                       effects={"timeseries": 3.0, "rna": 0, "imaging": 0, "clinical": 0},
                       interaction=0, random_state=1)
    series = data.select(["timeseries"])
    train, test = series[np.arange(200)], series[np.arange(200, 300)]
    est = make("intermediate", max_epochs=40, n_ensemble=1, random_state=0).fit(train)
    assert est.input_shapes_["timeseries"] == (3, 40)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test.y, est.predict_proba(test)[:, 1]) > 0.7
    assert SeriesEncoder(3, 5)(torch.zeros(2, 3, 1)).shape == (2, 5)


def test_modality_dropout_never_hides_everything():
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(500, 4, generator=gen) < 0.6
    mask[~mask.any(dim=1), 0] = True
    for rate in (0.5, 0.99):
        kept = drop_modalities(mask, rate, gen)
        assert kept.any(dim=1).all()
        assert not (kept & ~mask).any()  # never reveals a missing modality
    assert 0.3 < (drop_modalities(mask, 0.5, gen).sum() / mask.sum()).item() < 0.7


def test_inner_split_is_stratified_and_seeded():
    y = np.array([0] * 80 + [1] * 20)
    tr, va = inner_split(y, 0.2, seed=3)
    assert len(va) == 20 and y[va].sum() == 4
    assert not set(tr) & set(va)
    np.testing.assert_array_equal(va, inner_split(y, 0.2, seed=3)[1])
    assert len(inner_split(y[:5], 0.2, seed=0)[1]) == 0  # too few: no early stopping


def test_balanced_class_weights_match_sklearn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 30 + [1] * 10 + [2] * 5)
    np.testing.assert_allclose(class_weights("balanced", np.arange(3), y),
                               compute_class_weight("balanced", classes=np.arange(3), y=y))


def test_multiclass_and_progress_bar(capsys):
    data = make_cohort(90, task="multiclass", n_classes=3, n_genes=20, n_imaging=10,
                       random_state=4)
    est = make("cross-attention", max_epochs=2, n_ensemble=1, verbose=True,
               random_state=0).fit(data)
    p = est.predict_proba(data)
    assert p.shape == (90, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (est.n_epochs_ == 2).all()


def test_ensemble_averages_member_probabilities_and_round_trips(cohort, tmp_path):
    est = make("attention", **{**FAST, "n_ensemble": 2}).fit(cohort)
    assert len(est.module_.members) == 2 and len(est.history_) == 2
    inputs, mask = est._torch_inputs(cohort)
    with torch.no_grad():
        members = [torch.softmax(m(inputs, mask), 1).numpy() for m in est.module_.members]
    p = est.predict_proba(cohort)
    np.testing.assert_allclose(p, np.mean(members, axis=0), rtol=1e-5, atol=1e-7)
    assert not np.allclose(members[0], members[1])  # different seeds
    np.testing.assert_allclose(est.attention_weights(cohort).sum(axis=1), 1.0, rtol=1e-6)
    save_file(est.module_.state_dict(), tmp_path / "w.safetensors")
    twin = pickle.loads(pickle.dumps({k: v for k, v in est.__dict__.items() if k != "module_"}))
    loaded = type(est).__new__(type(est))
    loaded.__dict__.update(twin)
    loaded.module_ = loaded._build_module()
    loaded.module_.load_state_dict(load_file(tmp_path / "w.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(cohort), p)


def test_auxiliary_heads_learn_each_modality_alone_and_round_trip(tmp_path):
    from sklearn.metrics import roc_auc_score

    data = make_cohort(300, n_genes=30, n_imaging=15, effects={"rna": 2.0, "imaging": 0.0},
                       interaction=0.0, n_noise_modalities=1, random_state=2)
    train, test = data[:200], data[200:]
    est = make("intermediate", auxiliary=1.0, max_epochs=60, refit=False,
               n_ensemble=1, random_state=0).fit(train)
    inputs, mask = est._torch_inputs(test)
    with torch.no_grad():
        logits, _, aux = est.module_.training_outputs(inputs, mask)
        assert torch.allclose(logits, est.module_(inputs, mask))
    y = test.y.to_numpy()
    auc = {m: roc_auc_score(y[mask[:, j].numpy()], aux[mask[:, j], j, 1].numpy())
           for j, m in enumerate(est.modalities_)}
    noise = [m for m in est.modalities_ if m not in ("rna", "imaging", "clinical")]
    assert auc["rna"] > 0.75 and all(auc["rna"] > auc[m] + 0.15 for m in noise)
    # The auxiliary heads belong to module_, so the state-dict round trip keeps them.
    save_file(est.module_.state_dict(), tmp_path / "w.safetensors")
    est2 = pickle.loads(pickle.dumps(est))
    est2.module_ = est2._build_module()
    est2.module_.load_state_dict(load_file(tmp_path / "w.safetensors"))
    est2.module_.eval()
    np.testing.assert_allclose(est2.predict_proba(test), est.predict_proba(test), atol=1e-6)


def _peak_timing_cohort(n: int = 240, length: int = 40, seed: int = 0) -> MultiModalData:
    """One wearable series per subject: noise plus one peak, early (class 0) or late
    (class 1) in the recording. Which is which only the timing tells."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    centre = np.where(y == 0, rng.uniform(7, 13, n), rng.uniform(27, 33, n))
    t = np.arange(length)
    series = 2.0 * np.exp(-0.5 * ((t[None, :] - centre[:, None]) / 1.5) ** 2)
    series += rng.normal(0, 0.3, (n, length))
    ids = [f"s{i:03d}" for i in range(n)]
    return MultiModalData({"wearable": (ids, series[:, None, :])},
                          obs=pd.DataFrame({"label": y}, index=ids),
                          modalities={"wearable": "timeseries"}, outcome="label")


def test_gru_series_encoder_sees_when_a_peak_occurs():
    """Global pooling of convolutions is blind to timing; the recurrent encoder is not."""
    from sklearn.metrics import roc_auc_score

    data = _peak_timing_cohort()
    train, test = data[np.arange(160)], data[np.arange(160, 240)]
    auc = {}
    for encoder in ("conv", "gru"):
        est = make("intermediate", series_encoder=encoder, max_epochs=40, n_ensemble=1,
                   lr=3e-3, random_state=0).fit(train)
        auc[encoder] = roc_auc_score(test.y, est.predict_proba(test)[:, 1])
    assert auc["gru"] > 0.9, auc
    assert auc["conv"] < 0.7, auc
    assert RecurrentSeriesEncoder(3, 5)(torch.zeros(2, 3, 1)).shape == (2, 5)
    with pytest.raises(ValueError, match="series_encoder"):
        make("intermediate", series_encoder="lstm").fit(train)
