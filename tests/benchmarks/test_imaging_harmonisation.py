"""The harmonised radiomics path of ``benchmarks/imaging_harmonisation.py`` removes the
simulated scanners' effect from the features (the known answer of the domain-shift model);
the leave-site-out AUCs it prints are measured, not asserted."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
bench = importlib.import_module("imaging_harmonisation")

pytest.importorskip("skimage")


def test_site_r2_is_the_share_of_variance_between_sites():
    site = pd.Series(["a", "a", "b", "b"])
    features = pd.DataFrame({"shifted": [0.0, 2.0, 10.0, 12.0], "same": [1.0, 3.0, 1.0, 3.0]})
    # shifted: total sum of squares 104 about 6, within sites 4, so 100/104 between sites
    assert bench.site_r2(features[["shifted"]], site) == pytest.approx(100 / 104)
    assert bench.site_r2(features[["same"]], site) == pytest.approx(0.0)


def test_the_harmonised_path_removes_most_of_the_site_effect():
    data = bench.cohort(subjects=36, sites=3, batch_effect=2.0, seed=1, shape=(16, 16, 16))
    r2 = bench.site_effect(data, bench.paths(data))
    assert r2["raw"] > 0.1
    assert r2["harmonised"] < r2["raw"] / 5
    assert np.isfinite(list(r2.values())).all()
