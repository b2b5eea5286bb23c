"""The embedded real cohort."""

from __future__ import annotations

import numpy as np
import pytest

from medfuse.data import load_gse7390


def test_gse7390_modalities_and_outcome():
    with pytest.warns(UserWarning, match="censored before 5 years"):
        data = load_gse7390()
    assert data.modality_names == ["expression", "clinical"]
    assert data.n_features("expression") == 76
    assert data.feature_names("clinical") == ["age", "er", "grade", "size"]
    assert data.kinds["clinical"] == "clinical"
    obs = data.obs
    # Outcome definition: event within 5 years -> 1, followed beyond 5 years -> 0.
    assert ((obs["metastasis_5y"] == 1) == (obs["event"] & (obs["time"] <= 5))).all()
    assert (obs.loc[obs["metastasis_5y"] == 0, "time"] > 5).all()
    assert len(data) + 9 == 198
    assert data.block("clinical")["grade"].cat.ordered


def test_gse7390_keep_censored():
    data = load_gse7390(drop_censored=False)
    assert len(data) == 198
    censored = data.obs["metastasis_5y"].isna()
    assert censored.sum() == 9
    assert (~data.obs.loc[censored, "event"]).all() | (data.obs.loc[censored, "time"] > 5).all()
    assert np.all(data.obs.loc[censored, "time"] <= 5)
