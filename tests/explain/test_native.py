"""Strategy-native explanations as tidy tables, found by attribute name."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.explain import native


class _Fitted:
    """Carries the attributes strategies expose, in the shapes they use."""

    def __init__(self) -> None:
        self.modalities_ = ["rna", "imaging"]
        self.classes_ = np.array([0, 1])


def test_weights_loadings_and_variance():
    model = _Fitted()
    model.modality_weights_ = pd.Series({"rna": 0.7, "imaging": 0.3})
    model.kernel_weights_ = np.array([0.6, 0.4])
    model.loadings_ = {"rna": pd.DataFrame([[0.5, 0.1], [-0.2, 0.3]], index=["g1", "g2"],
                                           columns=["comp1", "comp2"]),
                       "imaging": np.array([[1.0, 0.0]])}
    model.block_variance_ = pd.DataFrame([[0.4, 0.1], [0.2, 0.05]], index=["rna", "imaging"],
                                         columns=["comp1", "comp2"])
    out = native(model)
    assert set(out) == {"modality_weights", "kernel_weights", "loadings", "block_variance"}
    w = out["modality_weights"].set_index("modality")["weight"]
    assert w.to_dict() == {"rna": 0.7, "imaging": 0.3}
    k = out["kernel_weights"].set_index("modality")["weight"]
    assert k.to_dict() == {"rna": 0.6, "imaging": 0.4}
    load = out["loadings"]
    assert list(load.columns[:2]) == ["modality", "feature"]
    row = load.query("modality == 'rna' and feature == 'g2' and component == 'comp2'")
    assert row["loading"].item() == 0.3
    assert len(load.query("modality == 'imaging'")) == 2
    var = out["block_variance"]
    assert var.query("modality == 'imaging' and component == 'comp1'")["variance"].item() == 0.2


def test_per_subject_attention_and_maps(split):
    _, test = split
    model = _Fitted()
    model.modalities_ = list(test.modality_names)
    n, m = len(test), len(test.modality_names)
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(m), size=n)
    maps = rng.dirichlet(np.ones(m), size=(n, m))
    model.attention_weights = lambda data: att[: len(data)]
    model.cross_attention_maps = lambda data: maps[: len(data)]
    out = native(model, test)
    a = out["attention"]
    assert list(a.columns) == ["subject", "modality", "weight"]
    assert len(a) == n * m
    np.testing.assert_allclose(a.groupby("subject")["weight"].sum(), 1.0)
    first = a[a["subject"] == test.subjects[0]].set_index("modality")["weight"]
    np.testing.assert_allclose(first[model.modalities_], att[0])
    c = out["cross_attention"]
    assert list(c.columns) == ["subject", "query", "key", "weight"]
    q = c[(c["subject"] == test.subjects[3]) & (c["query"] == "imaging")]
    np.testing.assert_allclose(q.set_index("key")["weight"][model.modalities_], maps[3, 1])
    heads = rng.dirichlet(np.ones(m), size=(n, 2, m))
    model.cross_attention_maps = lambda data: heads[: len(data)]
    c4 = native(model, test)["cross_attention"]
    assert list(c4.columns) == ["subject", "head", "query", "key", "weight"]
    assert len(c4) == n * 2 * m * m
    row = c4[(c4["subject"] == test.subjects[2]) & (c4["head"] == 1) & (c4["query"] == "rna")]
    np.testing.assert_allclose(row.set_index("key")["weight"][model.modalities_], heads[2, 1, 0])
    # no data: nothing per subject, and nothing at all for a model without such attributes
    assert "attention" not in native(model)
    assert native(_Fitted()) == {}


def test_registered_strategies_report_the_signal_modality(fitted_registered, split):
    """On the rna-only cohort, learned modality weights, kernel weights and coefficients rank
    rna first. (Attention weights are reported but not checked for that: what a network
    attends to need not be what drives its output, which modality Shapley values measure.)"""
    _, test = split
    seen = set()
    for name, model in fitted_registered.items():
        out = native(model, test)
        if "mean_attention" in out:
            seen.add("mean_attention")
        for key in ("modality_weights", "kernel_weights"):
            if key in out:
                w = out[key].set_index("modality")["weight"]
                assert w.idxmax() == "rna", (name, key, w.to_dict())
                seen.add(key)
        if "coefficients" in out:
            c = out["coefficients"]
            col = "coefficient"
            assert c.assign(a=c[col].abs()).groupby("modality")["a"].sum().idxmax() == "rna"
            seen.add("coefficients")
        tree = model.get_params(deep=False).get("learner", "logistic") != "logistic"
        if "meta_coefficients" in out and not tree:
            # (over a tree learner's log-odds, which are far wider, the meta coefficients
            # are on another scale; modality Shapley values rank those stacks instead)
            m = out["meta_coefficients"].set_index("term")["coefficient"]
            logits = m[[t for t in m.index if t.endswith("log-odds")]]
            assert logits.idxmax() == "rna: log-odds", (name, m.to_dict())
            seen.add("meta_coefficients")
        if "loadings" in out:
            load = out["loadings"]
            assert set(load.query("modality == 'rna'")["feature"]) <= set(
                model.feature_names_["rna"])
            seen.add("loadings")
        if "attention" in out:
            a = out["attention"]
            np.testing.assert_allclose(a.groupby("subject")["weight"].sum(), 1.0, atol=1e-6)
            seen.add("attention")
    expected = {"coefficients"}
    registered = set(fitted_registered)
    if "late-weighted" in registered:
        expected.add("modality_weights")
    if "mkl" in registered:
        expected.add("kernel_weights")
    if "stacking" in registered:
        expected.add("meta_coefficients")
    if "block-pls" in registered:
        expected.add("loadings")
    if "attention" in registered:
        expected |= {"attention", "mean_attention"}
    assert expected <= seen, expected - seen
