"""Statistical comparison of strategies evaluated on the same cross-validation splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from medfuse.evaluate.metrics import greater_is_better


def corrected_resampled_ttest(a, b, n_train, n_test) -> tuple[float, float, float]:
    """Nadeau and Bengio's corrected resampled t-test of two strategies scored on the same
    J train/test splits (e.g. k folds x r repeats).

    With differences ``d_j = a_j - b_j``, their mean ``d`` and sample variance ``s^2``
    (ddof 1), ``t = d / sqrt((1/J + n_test/n_train) * s^2)`` on ``J - 1`` degrees of freedom;
    the correction term ``n_test/n_train`` accounts for the overlap of training sets.

    Parameters
    ----------
    a, b : array-like of shape (J,)
        The metric of each strategy on each split (splits where either is NaN are
        dropped).
    n_train, n_test : float or array-like of shape (J,)
        Training and test set sizes (averaged over splits when they vary).

    Returns
    -------
    mean_diff : float
        Mean of ``a - b``.
    t : float
        The corrected t statistic.
    p_value : float
        Two-sided p-value on ``J - 1`` degrees of freedom. ``t`` and ``p_value`` are NaN
        with fewer than two splits or when every difference is zero.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    j = len(d)
    if j == 0:
        return np.nan, np.nan, np.nan
    mean = float(d.mean())
    if j < 2:
        return mean, np.nan, np.nan
    ratio = float(np.mean(np.asarray(n_test, dtype=float)[ok] if np.ndim(n_test) else n_test)
                  / np.mean(np.asarray(n_train, dtype=float)[ok] if np.ndim(n_train)
                            else n_train))
    var = float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return mean, np.nan, np.nan
        return mean, float(np.sign(mean) * np.inf), 0.0
    t = mean / np.sqrt((1.0 / j + ratio) * var)
    p = 2.0 * stats.t.sf(abs(t), df=j - 1)
    return mean, float(t), float(p)


def compare_strategies(scores: pd.DataFrame, metric: str, sizes: pd.DataFrame,
                       unimodal: list[str] | None = None) -> pd.DataFrame:
    """Every strategy against the best one and against the best unimodal baseline.

    Parameters
    ----------
    scores : DataFrame
        Columns ``strategy, split, metric, value`` (one row per strategy x split x
        metric).
    metric : str
        The metric compared.
    sizes : DataFrame
        Indexed by split, with columns ``n_train, n_test``.
    unimodal : list of str, optional
        Names of the unimodal baselines (default: ``unimodal:<m>`` and
        ``unimodal-cox:<m>``).

    Returns
    -------
    DataFrame
        Columns ``strategy, reference, reference_strategy, metric, mean_diff, t, p_value,
        n``, where ``reference`` is ``best`` or ``best_unimodal`` and ``mean_diff`` is
        strategy minus reference (positive = strategy higher). When the best strategy is
        itself the best unimodal baseline, only the ``best`` rows are given.
    """
    wide = (scores[scores["metric"] == metric]
            .pivot_table(index="split", columns="strategy", values="value", aggfunc="first"))
    if wide.empty:
        return pd.DataFrame(columns=["strategy", "reference", "reference_strategy", "metric",
                                     "mean_diff", "t", "p_value", "n"])
    means = wide.mean(skipna=True)
    sign = 1.0 if greater_is_better(metric) else -1.0
    ranked = (sign * means).dropna().sort_values(ascending=False)
    unimodal = ([s for s in wide.columns if _is_unimodal(str(s))]
                if unimodal is None else [s for s in unimodal if s in wide.columns])
    refs = {}
    if len(ranked):
        refs["best"] = ranked.index[0]
    uni = [s for s in ranked.index if s in unimodal]
    if uni and uni[0] != refs.get("best"):
        refs["best_unimodal"] = uni[0]
    sizes = sizes.reindex(wide.index)
    rows = []
    for ref_name, ref in refs.items():
        for s in wide.columns:
            if s == ref:
                continue
            diff, t, p = corrected_resampled_ttest(wide[s].to_numpy(), wide[ref].to_numpy(),
                                                   sizes["n_train"].to_numpy(),
                                                   sizes["n_test"].to_numpy())
            n = int((wide[s].notna() & wide[ref].notna()).sum())
            rows.append({"strategy": s, "reference": ref_name, "reference_strategy": ref,
                         "metric": metric, "mean_diff": diff, "t": t, "p_value": p, "n": n})
    out = pd.DataFrame(rows)
    if not out.empty:
        order = {s: i for i, s in enumerate(ranked.index)}
        out = (out.assign(_r=out["strategy"].map(order).fillna(len(order)))
               .sort_values(["reference", "_r"], kind="stable").drop(columns="_r")
               .reset_index(drop=True))
    return out


def _is_unimodal(name: str) -> bool:
    """A one-modality baseline: ``unimodal:<m>`` or ``unimodal-cox:<m>``."""
    return name.startswith("unimodal") and ":" in name
