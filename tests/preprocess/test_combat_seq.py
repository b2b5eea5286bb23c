"""ComBat-seq against R sva::ComBat_seq (identical integer counts) and its workflow."""

import numpy as np
import pandas as pd
import pytest
from rfixtures import read_r

from medfuse.preprocess import ComBatSeq


@pytest.fixture(scope="module")
def seq_data():
    return read_r("combatseq_counts.csv"), read_r("combatseq_meta.csv")


@pytest.mark.parametrize(("fixture", "use_group", "covariates"), [
    ("combatseq_null.csv", False, None),
    ("combatseq_group.csv", True, None),
    ("combatseq_group_covar.csv", True, ["x"]),
])
def test_counts_identical_to_r(seq_data, fixture, use_group, covariates):
    counts, meta = seq_data
    out = ComBatSeq().fit_transform(
        counts, batch=meta["batch"], group=meta["group"] if use_group else None,
        covariates=meta[covariates] if covariates else None)
    expected = read_r(fixture)
    assert out.dtypes.map(pd.api.types.is_integer_dtype).all()
    assert out.index.equals(counts.index) and out.columns.equals(counts.columns)
    np.testing.assert_array_equal(out.to_numpy(), expected.to_numpy())
    assert (out.to_numpy() != counts.to_numpy()).mean() > 0.5     # it did adjust


def _small_b3(meta, k, only_ctrl=False):
    """Batches b1, b2 whole and the first k subjects of b3 (only "ctrl" ones if asked), as
    make_fixtures.R selects them."""
    keep = (meta["group"] == "ctrl") if only_ctrl else True
    b3 = meta.index[(meta["batch"] == "b3") & keep][:k]
    return [*meta.index[meta["batch"] != "b3"], *b3]


@pytest.mark.parametrize(("fixture", "k", "only_ctrl", "covariates"), [
    ("combatseq_small_group.csv", 2, False, None),           # 1 design column + 1 samples
    ("combatseq_small_group_covar.csv", 3, False, ["x"]),    # 2 design columns + 1 samples
    ("combatseq_small_onegroup.csv", 3, True, None),         # group rank deficient in b3
])
def test_small_batch_common_dispersion_identical_to_r(seq_data, fixture, k, only_ctrl,
                                                      covariates):
    # sva cannot estimate gene-wise dispersions in a batch with no residual degrees of
    # freedom for the biological design; it gives every gene that batch's intercept-only
    # common dispersion
    counts, meta = seq_data
    rows = _small_b3(meta, k, only_ctrl)
    c, m = counts.loc[rows], meta.loc[rows]
    kw = {"batch": m["batch"], "group": m["group"],
          "covariates": m[covariates] if covariates else None}
    model = ComBatSeq().fit(c, **kw)
    out = model.transform(c, **kw)
    expected = read_r(fixture)
    assert out.index.equals(expected.index)
    np.testing.assert_array_equal(out.to_numpy(), expected.to_numpy())
    assert np.ptp(model.dispersion_[:, 2]) == 0                  # b3: one value for all genes
    assert (np.ptp(model.dispersion_[:, :2], axis=0) > 0).all()  # b1, b2: gene-wise
    assert (out.to_numpy() != c.to_numpy()).mean() > 0.5


def test_genes_without_counts_in_a_batch_unchanged(seq_data):
    counts, meta = seq_data
    model = ComBatSeq().fit(counts, batch=meta["batch"])
    assert not model.adjusted_[:3].any() and model.adjusted_[3:].all()


def test_frozen_model_applies_per_subject(seq_data):
    # new subjects are adjusted with the frozen coefficients and their own library size,
    # so transforming a subset reproduces those subjects' rows of the full adjustment
    counts, meta = seq_data
    model = ComBatSeq(group_col="group").fit(counts, obs=meta)
    full = model.transform(counts, obs=meta)
    part = model.transform(counts.iloc[5:9], obs=meta.iloc[5:9])
    np.testing.assert_array_equal(part.to_numpy(), full.iloc[5:9].to_numpy())
    with pytest.raises(ValueError, match="'b9'"):
        model.transform(counts.iloc[:2], batch=["b1", "b9"], group=["ctrl", "case"])


def test_reference_batch_left_unchanged_and_batch_means_aligned(seq_data):
    counts, meta = seq_data
    model = ComBatSeq(ref_batch="b3").fit(counts, batch=meta["batch"], group=meta["group"])
    out = model.transform(counts, batch=meta["batch"], group=meta["group"])
    # the reference batch is the target: its own estimated effect is ~0
    assert np.abs(model.batch_effect_[:, model.ref_index_]).max() < 1e-3
    ref = (meta["batch"] == "b3").to_numpy()
    np.testing.assert_array_equal(out[ref].to_numpy(), counts[ref].to_numpy())
    genes = counts.columns[3:]

    def spread(X):   # between-batch spread of per-gene log mean counts
        logm = np.log1p(X[genes].groupby(meta["batch"].to_numpy()).mean())
        return float(logm.std(axis=0).mean())

    assert spread(out) < 0.6 * spread(counts)   # down to sampling noise of 8 per batch


def test_confounded_group_raises_named_error(seq_data):
    counts, meta = seq_data
    group = np.where(meta["batch"] == "b1", "case", "ctrl")
    with pytest.raises(ValueError, match="'group' is confounded"):
        ComBatSeq().fit(counts, batch=meta["batch"], group=group)


@pytest.mark.parametrize(("fixture", "shrink_disp"), [("combatseq_shrink.csv", False),
                                                      ("combatseq_shrink_disp.csv", True)])
def test_shrinkage_identical_to_r(seq_data, fixture, shrink_disp):
    counts, meta = seq_data
    model = ComBatSeq(shrink=True, shrink_disp=shrink_disp)
    out = model.fit_transform(counts, batch=meta["batch"], group=meta["group"])
    np.testing.assert_array_equal(out.to_numpy(), read_r(fixture).to_numpy())
    plain = ComBatSeq().fit_transform(counts, batch=meta["batch"], group=meta["group"])
    assert (out.to_numpy() != plain.to_numpy()).mean() > 0.05    # shrinkage changed counts


def test_shrinkage_pulls_effects_towards_the_other_genes(seq_data):
    counts, meta = seq_data
    model = ComBatSeq(shrink=True).fit(counts, batch=meta["batch"], group=meta["group"])
    raw, post = model.raw_batch_effect_, model.batch_effect_
    # posterior means are weighted averages of the other genes' effects: inside their
    # range, and less spread out across genes than the raw estimates
    assert (post >= raw.min(axis=0) - 1e-12).all() and (post <= raw.max(axis=0) + 1e-12).all()
    assert (post.std(axis=0) < raw.std(axis=0)).all()
    # new subjects are adjusted with the frozen posterior effects
    part = model.transform(counts.iloc[5:9], batch=meta["batch"].iloc[5:9],
                           group=meta["group"].iloc[5:9])
    full = model.transform(counts, batch=meta["batch"], group=meta["group"])
    np.testing.assert_array_equal(part.to_numpy(), full.iloc[5:9].to_numpy())


def test_gene_subset_is_seeded_and_all_others_equal_the_full_integral(seq_data):
    counts, meta = seq_data
    kw = {"batch": meta["batch"], "group": meta["group"]}
    full = ComBatSeq(shrink=True).fit(counts, **kw)
    a = ComBatSeq(shrink=True, gene_subset=50, random_state=1).fit(counts, **kw)
    b = ComBatSeq(shrink=True, gene_subset=50, random_state=1).fit(counts, **kw)
    np.testing.assert_array_equal(a.batch_effect_, b.batch_effect_)
    assert not np.allclose(a.batch_effect_, full.batch_effect_)
    # a "subset" of all the other genes, drawn in random order, is the full integral
    every = ComBatSeq(shrink=True, gene_subset=int(full.adjusted_.sum()) - 1,
                      random_state=2).fit(counts, **kw)
    np.testing.assert_allclose(every.batch_effect_, full.batch_effect_, rtol=1e-10,
                               atol=1e-12)


def _nb_cohort(seed=0, n=10, genes=60):
    """Counts of batches A and B (opposite effects +-0.5 on every other gene) and a new batch
    C with three times the expression of the first half of the genes."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(2, 5, genes))
    shift = np.where(np.arange(genes) % 2 == 0, 0.5, 0.0)
    effects = {"A": shift, "B": -shift, "C": np.where(np.arange(genes) < genes // 2,
                                                      np.log(3.0), 0.0)}
    rows, batch = [], []
    for b, g in effects.items():
        mu = base * np.exp(g)
        rows.append(rng.negative_binomial(10, 10 / (10 + mu), size=(n, genes)))
        batch += [b] * n
    counts = pd.DataFrame(np.vstack(rows), columns=[f"g{j}" for j in range(genes)])
    return counts, np.array(batch, dtype=object)


def test_unseen_batch_policies():
    from medfuse.preprocess._design import UnseenBatchError

    counts, batch = _nb_cohort()
    train = batch != "C"
    new = counts[~train]
    model = ComBatSeq().fit(counts[train], batch=batch[train])
    with pytest.raises(UnseenBatchError, match=r"Batch\(es\) \['C'\] had no subject among "
                                               "those ComBat-seq was fitted on") as err:
        model.transform(new, batch=batch[~train])
    assert err.value.batches == ["C"] and err.value.seen == ["A", "B"]
    with pytest.raises(ValueError, match="needs ref_batch"):
        model.set_params(unseen_batch="reference").transform(new, batch=batch[~train])

    ref = ComBatSeq(ref_batch="A", unseen_batch="reference").fit(counts[train],
                                                               batch=batch[train])
    np.testing.assert_array_equal(ref.transform(new, batch=batch[~train]), new)

    # fit-new: the new batch's location is estimated from its own subjects, so the 3-fold
    # expression of the first half of the genes goes away (library-normalised shares)
    model.set_params(unseen_batch="fit-new")
    adjusted_new = model.transform(new, batch=batch[~train])
    adjusted_train = model.transform(counts[train], batch=batch[train])
    assert adjusted_new.dtypes.map(pd.api.types.is_integer_dtype).all()

    def first_half_excess(x_new, x_train):
        share = lambda x: (x.T / x.sum(axis=1)).T.mean(axis=0)   # noqa: E731
        ratio = np.log(share(x_new.to_numpy()) / share(x_train.to_numpy()))
        half = len(ratio) // 2
        return ratio[:half].mean() - ratio[half:].mean()

    assert first_half_excess(new, adjusted_train) > 0.9        # log 3 = 1.10 before
    assert abs(first_half_excess(adjusted_new, adjusted_train)) < 0.2
    # subjects of the training batches are adjusted as before
    model.set_params(unseen_batch="error")
    np.testing.assert_array_equal(model.transform(counts[train], batch=batch[train]),
                                  adjusted_train)
