"""Availability patterns and the outcome in each: is the outcome related to which
modalities a subject has?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from medfuse.data import MultiModalData


def pattern_labels(available: pd.DataFrame) -> pd.Series:
    """Each subject's availability pattern as ``"rna + clinical"`` (``"(none)"`` when it
    has nothing), indexed by subject.

    Parameters
    ----------
    available : DataFrame of shape (n_subjects, n_modalities)
        Boolean table of which subject has which modality (``MultiModalData.available``).

    Returns
    -------
    Series of str
        The pattern of each subject, named ``pattern`` and indexed like ``available``.
    """
    names = np.asarray(available.columns, dtype=object)
    labels = [" + ".join(names[row]) or "(none)" for row in available.to_numpy(dtype=bool)]
    return pd.Series(labels, index=available.index, name="pattern")


def outcome_by_pattern(data: MultiModalData) -> tuple[pd.DataFrame, float]:
    """Subjects and outcome per availability pattern, with a test of independence.

    Parameters
    ----------
    data : MultiModalData
        A cohort with an outcome.

    Returns
    -------
    table : DataFrame indexed by pattern (most frequent first)
        ``subjects`` and, for a categorical outcome, the share of each class among the
        pattern's subjects with a known outcome (columns ``"rate:<class>"``); for a numeric
        outcome with more than 10 distinct values, its ``mean`` and ``sd``.
    p_value : float
        Pearson's chi-squared test of pattern x class (Kruskal-Wallis for a numeric
        outcome); NaN with a single pattern. A small p-value says the outcome differs
        between availability patterns, so analyses of complete cases select on the outcome.
    """
    if data.outcome is None:
        raise ValueError("outcome_by_pattern needs an outcome; pass outcome='column'.")
    patterns = pattern_labels(data.available)
    y = data.y
    known = y.notna()
    counts = patterns.value_counts()
    table = pd.DataFrame({"subjects": counts})
    numeric = pd.api.types.is_numeric_dtype(y) and y[known].nunique() > 10
    if numeric:
        groups = y[known].groupby(patterns[known])
        table["mean"] = groups.mean()
        table["sd"] = groups.std()
        samples = [g.to_numpy() for _, g in groups if len(g) > 0]
        p_value = float(stats.kruskal(*samples).pvalue) if len(samples) > 1 else np.nan
        return table, p_value
    cross = pd.crosstab(patterns[known], y[known])
    shares = cross.div(cross.sum(axis=1), axis=0).add_prefix("rate:")
    table = table.join(shares)
    cross = cross.loc[:, cross.sum(axis=0) > 0]
    if cross.shape[0] < 2 or cross.shape[1] < 2:
        return table, np.nan
    p_value = float(stats.chi2_contingency(cross.to_numpy(), correction=False).pvalue)
    return table, p_value
