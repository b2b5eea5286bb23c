"""The ``harmonize:`` section: batch harmonization refitted inside every fold."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from medfuse.config.errors import StudyError, _At
from medfuse.config.refs import ColumnRef, _Strict


class HarmonizeSpec(_Strict):
    """Batch harmonization of some modalities, refitted inside every fold.

    Each harmonized modality gets :class:`~medfuse.preprocess.chain.ObsChain` ``[harmonizer,
    the kind's default preprocessing]`` as the ``preprocessors`` entry of every strategy
    (ComBat then z-score for ``continuous``; ComBat-seq then log-CPM and z-score for
    ``counts``; see :func:`medfuse.study.harmonization_chains`), so the harmonizer is fitted
    on each fold's training subjects only and saved with the model.

    Parameters
    ----------
    method : {"ComBat", "ComBat-seq"}
        ComBat for continuous modalities, ComBat-seq for counts.
    modalities : list of str, optional
        The modalities to harmonize (default: every modality whose kind the method applies
        to).
    batch : ColumnRef, optional
        The batch column (default: the study's ``batch``).
    covariates : list of ColumnRef or str
        Protected covariates, each ``{file, column}`` or a column of the batch's file.
    parametric, mean_only : bool, optional
        ComBat's empirical Bayes options (default: parametric, location and scale).
    reference_batch : str or int, optional
        Batch left unchanged; the others are mapped onto it.
    unseen_batch : {"error", "reference", "fit-new"}
        What happens to subjects of a batch with no subject in the training part: an error,
        left unadjusted (``reference``; needs ``reference_batch``) or estimated from their
        own subjects (``fit-new``).
    """

    method: Literal["ComBat", "ComBat-seq"] = "ComBat"
    modalities: list[str] | None = None
    batch: ColumnRef | None = None
    covariates: list[ColumnRef | str] = Field(default_factory=list)
    parametric: bool | None = None
    mean_only: bool | None = None
    reference_batch: str | int | None = None
    unseen_batch: Literal["error", "reference", "fit-new"] = "error"

    @model_validator(mode="after")
    def _options_of_the_method(self) -> HarmonizeSpec:
        if self.method == "ComBat-seq":
            for option in ("parametric", "mean_only"):
                if getattr(self, option) is not None:
                    raise _At(option, f"a ComBat option; ComBat-seq has no {option}")
        if self.unseen_batch == "reference" and self.reference_batch is None:
            raise _At("unseen_batch", "'reference' leaves an unseen batch unadjusted, as the "
                                      "reference batch; give reference_batch")
        return self

    def covariate_refs(self, batch: ColumnRef | None) -> list[ColumnRef]:
        """The covariates as column references (a bare name is a column of the batch's
        file)."""
        refs = []
        for c in self.covariates:
            if isinstance(c, str):
                if batch is None:
                    raise StudyError(f"harmonize.covariates: {c!r} names no file; give "
                                     "{file, column}.")
                c = ColumnRef(file=batch.file, column=c)
            refs.append(c)
        return refs
