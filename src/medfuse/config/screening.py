"""The ``screening:`` section: in-fold feature screening of wide modalities."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medfuse.config.refs import _Strict


class ScreeningSpec(_Strict):
    """In-fold feature screening of wide modalities (off unless the section is given).

    Each screened modality gets :class:`~medfuse.preprocess.screening.FeatureScreen` in its
    preprocessing chain, after the harmonizer (if any) and before the default
    preprocessing (see :func:`medfuse.study.screening_chains`), refitted on the training
    subjects of every fold and saved with the model.

    Parameters
    ----------
    method : {"variance", "univariate"}
        ``variance``: the features of largest variance; ``univariate``: those most
        associated with the outcome (ANOVA F, or the Cox score statistic for survival).
    keep : int
        Features kept per screened modality (at least 1).
    modalities : list of str, optional
        The modalities to screen (default: every modality wider than ``keep`` of a kind
        that declares a ``screening_scale``: continuous and counts); a named modality must
        have more than ``keep`` features.
    """

    method: Literal["variance", "univariate"] = "variance"
    keep: int = Field(ge=1)
    modalities: list[str] | None = None
