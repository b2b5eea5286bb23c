"""Real cohorts that ship with medfuse's dependencies (no download at run time)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from medfuse.data.modality import MeasurementScale, Modality
from medfuse.data.multimodal import MultiModalData

DAYS_PER_YEAR = 365.25
CLINICAL_COLUMNS = ("age", "er", "grade", "size")


def load_gse7390(horizon_years: float = 5.0, drop_censored: bool = True) -> MultiModalData:
    """The GSE7390 breast cancer cohort (Desmedt et al. 2007; 198 node-negative patients
    untreated by systemic therapy), as shipped by scikit-survival.

    Parameters
    ----------
    horizon_years : float
        The landmark for the binary outcome.
    drop_censored : bool
        If True (default), patients censored before the horizon are excluded, with a warning
        that lists them, so that the outcome is defined for everyone. If False they are kept
        with ``metastasis_5y = NaN`` (use ``time``/``event`` for survival analysis).

    Returns
    -------
    MultiModalData
        Outcome ``metastasis_5y``; subject IDs ``GSE7390_000`` ...

    Notes
    -----
    Modalities:

    - ``expression`` (continuous): 76 Affymetrix probes (the 76-gene signature), log2 scale.
    - ``clinical`` (clinical): age (ratio, years), er (nominal: negative/positive),
      grade (ordinal: well < intermediate < poorly differentiated, or unknown), size (ratio, cm).

    ``obs``:

    - ``time`` (years) and ``event`` (bool): time to distant metastasis or last follow-up.
    - ``metastasis_5y`` (the default outcome): 1 if distant metastasis occurred within
      ``horizon_years``; 0 if the patient was followed beyond the horizon without one (an
      event after the horizon counts as 0); undefined (NaN) if censored before the horizon,
      because their status at the horizon is unknown.
    """
    from sksurv.datasets import load_breast_cancer

    X, y = load_breast_cancer()
    ids = [f"GSE7390_{i:03d}" for i in range(len(X))]
    X = X.set_axis(ids, axis=0)
    time_years = y["t.tdm"] / DAYS_PER_YEAR
    event = y["e.tdm"].astype(bool)
    label = np.where(event & (time_years <= horizon_years), 1.0,
                     np.where(time_years > horizon_years, 0.0, np.nan))
    obs = pd.DataFrame({"time": time_years, "event": event, "metastasis_5y": label}, index=ids)

    clinical = X[list(CLINICAL_COLUMNS)].copy()
    clinical["grade"] = pd.Categorical(
        clinical["grade"].astype(object).where(clinical["grade"].astype(str) != "unkown"),
        categories=["well differentiated", "intermediate", "poorly differentiated"],
        ordered=True)
    clinical["er"] = pd.Categorical(clinical["er"].astype(object),
                                    categories=["negative", "positive"])
    expression = X.drop(columns=list(CLINICAL_COLUMNS)).astype(float)
    expression.columns = [c.removeprefix("X") for c in expression.columns]

    if drop_censored:
        censored = np.isnan(label)
        if censored.any():
            warnings.warn(
                f"load_gse7390: {int(censored.sum())} patients censored before "
                f"{horizon_years:g} years have an unknown {horizon_years:g}-year status and "
                "were excluded; pass drop_censored=False to keep them.", stacklevel=2)
        keep = ~censored
        obs = obs.loc[keep]
        expression, clinical = expression.loc[keep], clinical.loc[keep]
        obs["metastasis_5y"] = obs["metastasis_5y"].astype(int)

    specs = {
        "expression": Modality("continuous"),
        "clinical": Modality("clinical", scales={
            "age": MeasurementScale.RATIO, "er": MeasurementScale.NOMINAL,
            "grade": MeasurementScale.ORDINAL, "size": MeasurementScale.RATIO}),
    }
    return MultiModalData({"expression": expression, "clinical": clinical}, obs=obs,
                          modalities=specs, outcome="metastasis_5y")
