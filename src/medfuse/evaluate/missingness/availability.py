"""Little's MCAR test applied to a cohort: to whole modalities missing for some subjects,
and to missing cells inside a table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.data import MultiModalData
from medfuse.evaluate.missingness.little import MCARTest, little_mcar_test
from medfuse.evaluate.missingness.summaries import (
    modality_scores,
    numeric_table,
    principal_scores,
)

#: widest set of variables given to Little's test at once (its EM estimates a p x p
#: covariance from the subjects, so p must stay well below n)
MAX_VARIABLES = 20


def availability_mcar_test(data: MultiModalData, n_components: int = 2) -> MCARTest | None:
    """Little's test on modality availability: do subjects that lack a modality differ in
    the modalities they have?

    The variables are the first ``n_components`` principal component scores of every tabular
    modality (:func:`~medfuse.evaluate.missingness.summaries.modality_scores`), missing as a
    block for subjects without the modality. None when every subject has every tabular
    modality (nothing to test).

    Parameters
    ----------
    data : MultiModalData
        The cohort; only its tabular modalities are summarised.
    n_components : int
        Principal component scores per tabular modality.

    Returns
    -------
    MCARTest or None
        Little's test on the scores of all tabular modalities together; None when no
        subject lacks a tabular modality.
    """
    scores, _ = modality_scores(data, n_components)
    if not scores.isna().any().any():
        return None
    scores = scores.dropna(axis=1, thresh=2)
    return little_mcar_test(scores)


def block_mcar_test(data: MultiModalData, name: str, n_components: int = 3
                    ) -> MCARTest | None:
    """Little's test on the missing cells of one table, among the subjects that have it.

    A table of up to :data:`MAX_VARIABLES` columns is tested whole. A wider one is tested
    on its columns with missing cells (the most often missing first, up to
    ``MAX_VARIABLES - n_components``) together with the first ``n_components`` principal
    component scores of its complete columns. None when the block has no missing cell or is
    not a table.

    Parameters
    ----------
    data : MultiModalData
        The cohort.
    name : str
        The modality whose table is tested.
    n_components : int
        Principal component scores of the complete columns added to a wide table's
        columns with missing cells.

    Returns
    -------
    MCARTest or None
        Little's test on the table's cells; None when the block has no missing cell or is
        not a table.
    """
    block = data.block(name)
    if not isinstance(block, pd.DataFrame):
        return None
    table = numeric_table(block, data.kinds[name])
    gaps = table.isna().sum()
    if not gaps.any():
        return None
    table = table.loc[:, table.notna().sum() >= 2]
    gaps = gaps[table.columns]
    if table.shape[1] > MAX_VARIABLES:
        holey = gaps[gaps > 0].sort_values(ascending=False).index[:MAX_VARIABLES - n_components]
        complete = table.loc[:, gaps == 0]
        parts = [table[holey]]
        if complete.shape[1]:
            parts.append(principal_scores(complete, n_components).add_prefix("complete:"))
        table = pd.concat(parts, axis=1)
    table = table.loc[:, np.nanstd(table.to_numpy(dtype=float), axis=0) > 0]
    return little_mcar_test(table)
