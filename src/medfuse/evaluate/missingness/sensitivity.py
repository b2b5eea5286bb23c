"""MNAR sensitivity analysis by delta adjustment: how far does a conclusion move if the
subjects without a modality differ from what their other data predict?

Missing at random (MAR) is untestable: a probe near 0.5 (:mod:`.probe`) is what MNAR
missingness looks like too. The delta method (as in the tipping-point analyses of clinical
trials; van Buuren, *Flexible Imputation of Missing Data*, 2nd ed., section 9.2) fills the
modality in under MAR and then moves every filled-in value by ``delta`` training standard
deviations of its feature. Here the quantity examined is the cross-validated performance of
the model a study hands over, which is fitted under MAR: in every fold the imputer and the
strategy are fitted on the training subjects as usual, and only the held-out subjects'
filled-in values are shifted (shifting the training subjects too would fit a different
model, one that learns the shift). The same splits serve every delta.

The conclusion examined: the modality, filled in, adds to the other modalities; that is, the
strategy's cross-validated score with the modality imputed is at or above the same strategy
fitted without the modality, on the same splits. The *tipping point* is the delta of
smallest magnitude at which that stops being true (none within the range: the conclusion is
robust to departures from MAR of that size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medfuse.data import MultiModalData


@dataclass(frozen=True)
class DeltaSensitivity:
    """Cross-validated score per delta, the reference without the modality and the tipping
    point (NaN when the conclusion holds over the whole range).

    Parameters
    ----------
    modality : str
        The modality whose filled-in values were shifted.
    metric : str
        The metric of the conclusion (higher is better).
    table : DataFrame
        Indexed by delta (in training standard deviations; 0 is MAR), with the ``mean`` and
        ``sd`` of the cross-validated score over the splits.
    without : float
        Mean score of the same strategy fitted without the modality, on the same splits.
    without_sd : float
        Its standard deviation over the splits (0 with a single split).
    tipping_point : float
        The delta of smallest magnitude whose mean score falls below ``without``; NaN when
        none does.
    """

    modality: str
    metric: str
    table: pd.DataFrame
    without: float
    without_sd: float
    tipping_point: float

    def reading(self) -> str:
        """One sentence on how the conclusion moves with delta."""
        at_mar = float(self.table.loc[0.0, "mean"]) if 0.0 in self.table.index else np.nan
        lo, hi = self.table.index.min(), self.table.index.max()
        span = (f"{self.metric} {self.table['mean'].min():.3f} to "
                f"{self.table['mean'].max():.3f} for delta {lo:+g} to {hi:+g} sd")
        base = (f"with {self.modality} imputed under MAR the {self.metric} is {at_mar:.3f} "
                f"against {self.without:.3f} without it; {span}")
        if np.isnan(self.tipping_point):
            return (f"{base}: {self.modality} adds to the other modalities over the whole "
                    "range of departures from MAR examined.")
        return (f"{base}: the conclusion that {self.modality} adds to the other modalities "
                f"reverses at delta {self.tipping_point:+g} sd.")


def mnar_sensitivity(data: MultiModalData, modality: str, strategy: str | object = "late-mean",
                     method: str = "cross-modal",
                     deltas: Sequence[float] = (-1.0, -0.5, 0.0, 0.5, 1.0), *,
                     folds: int = 5, repeats: int = 1, seed: int = 0,
                     metric: str = "roc_auc", jobs: int = 1) -> DeltaSensitivity:
    """Delta-adjusted imputation of ``modality`` over a range of deltas (module docstring).

    Parameters
    ----------
    data : MultiModalData
        A labelled cohort in which some subjects lack ``modality``.
    modality : str
        The modality whose filled-in values are shifted.
    strategy : str or estimator
        The strategy evaluated (a registered name or an unfitted strategy).
    method : str
        The imputation method (:func:`medfuse.preprocess.impute.make_imputer`).
    deltas : sequence of float
        Shifts in training standard deviations; 0 is MAR.
    folds, repeats, seed : int
        The shared cross-validation splits.
    metric : str
        The metric of the conclusion (higher is better).
    jobs : int
        Worker processes of the benchmark.

    Returns
    -------
    DeltaSensitivity
        ``table`` indexed by delta with ``mean`` and ``sd`` over the splits.
    """
    from medfuse.evaluate.runner import run_benchmark
    from medfuse.evaluate.splits import make_splits
    from medfuse.fusion import make
    from medfuse.fusion.imputed import with_imputation

    if modality not in data.modality_names:
        raise ValueError(f"mnar_sensitivity: no modality {modality!r}; the data have "
                         f"{data.modality_names}.")
    if data.available[modality].all():
        raise ValueError(f"mnar_sensitivity: every subject has {modality!r}; there is "
                         "nothing imputed to shift.")
    if len(data.modality_names) < 2:
        raise ValueError("mnar_sensitivity needs another modality to compare against.")

    def build():
        return make(strategy) if isinstance(strategy, str) else strategy

    splits = make_splits(data.y, folds=folds, repeats=repeats, seed=seed)
    shifted = {f"delta {d:+g}": with_imputation(build(), {modality: method},
                                                random_state=seed, delta=float(d))
               for d in deltas}
    run = dict(splits=splits, seed=seed, robustness=False, jobs=jobs, primary_metric=metric)
    scores = run_benchmark(data, shifted, **run).split_scores("cv")
    base = run_benchmark(data.drop_modalities(modality), {"without": build()},
                         **run).split_scores("cv")
    scores = scores[scores["metric"] == metric]
    table = pd.DataFrame(
        [{"delta": float(d), "mean": scores.loc[scores["strategy"] == f"delta {d:+g}",
                                                "value"].mean(),
          "sd": scores.loc[scores["strategy"] == f"delta {d:+g}", "value"].std(ddof=1)}
         for d in deltas]).set_index("delta").sort_index()
    reference = base.loc[base["metric"] == metric, "value"]
    without = float(reference.mean())
    below = table.index[table["mean"] < without]
    tipping = float(below[np.argmin(np.abs(below))]) if len(below) else np.nan
    return DeltaSensitivity(modality, metric, table, without,
                            float(reference.std(ddof=1)) if len(reference) > 1 else 0.0,
                            tipping)
