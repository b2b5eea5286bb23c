import numpy as np
import pytest

from medfuse.data import DataValidationError
from medfuse.evaluate.splits import make_splits


def test_repeated_stratified_partitions_each_repeat():
    y = np.array([0] * 30 + [1] * 12)
    splits = make_splits(y, folds=3, repeats=2, seed=5)
    assert len(splits) == 6
    for r in range(2):
        tests = np.concatenate([s.test for s in splits if s.repeat == r])
        assert sorted(tests) == list(range(42))
    for s in splits:
        assert not set(s.train) & set(s.test)
        assert (y[s.test] == 1).sum() == 4  # stratified
    # different shuffles across repeats, identical for the same seed
    assert not np.array_equal(splits[0].test, splits[3].test)
    again = make_splits(y, folds=3, repeats=2, seed=5)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again, strict=True))


def test_grouped_keeps_each_group_in_one_fold():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 3)
    y = np.repeat(rng.integers(0, 2, 20), 3)
    for s in make_splits(y, folds=4, repeats=2, scheme="grouped", groups=groups):
        assert not set(groups[s.train]) & set(groups[s.test])


def test_leave_site_out():
    sites = np.array(["a"] * 10 + ["b"] * 12 + ["c"] * 8)
    y = np.tile([0, 1], 15)
    splits = make_splits(y, scheme="leave-site-out", sites=sites)
    assert [s.label for s in splits] == ["site=a", "site=b", "site=c"]
    for s in splits:
        assert len(set(sites[s.test])) == 1 and sites[s.test][0] not in set(sites[s.train])


def test_too_many_folds_is_explained():
    with pytest.raises(DataValidationError, match="smallest class has 3"):
        make_splits(np.array([0] * 10 + [1] * 3), folds=5)
