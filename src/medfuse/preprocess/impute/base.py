"""The contract every modality imputer follows: fitted on training subjects, it fills one
modality for the subjects that lack it.

An imputer is a scikit-learn estimator on :class:`~medfuse.data.MultiModalData`:
``fit(data)`` learns from the subjects of ``data`` (a fold's training subjects), and
``transform(data)`` returns the same subjects with the modality filled in and marked
available. What it learns from is :mod:`~medfuse.preprocess.impute.encoding`'s view of the
other modalities (principal component scores, NaN where absent) and of the target
(standardised). A subclass implements ``_fit_core(P, T)`` and ``_predict_core(P)`` on those
arrays.

Draws for multiple imputation: ``transform(data, draw=seed)`` adds Gaussian noise with each
feature's residual standard deviation (``residual_sd_``, measured on the training subjects
the core was not fitted on when ``bootstrap`` is set, else in-sample) to the imputed values;
the noise of a subject depends only on the seed and its ID, so it does not change with the
other subjects in the batch.

MNAR delta adjustment: ``shift = d`` moves every filled-in value by ``d`` training standard
deviations of its feature (on the standardised scale, before mapping back), for a
sensitivity analysis of what happens if the subjects without the modality differ from what
the observed data predict (:mod:`medfuse.evaluate.missingness.sensitivity`).
"""

from __future__ import annotations

import zlib

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data import DataValidationError, MultiModalData
from medfuse.preprocess.impute.encoding import PredictorEncoder, TargetScale


class ModalityImputer(TransformerMixin, BaseEstimator):
    """Base of the imputers (see the module docstring).

    Parameters
    ----------
    modality : str
        The modality to fill in.
    n_components : int
        Principal component scores per other modality used as predictors.
    bootstrap : bool
        Fit on a bootstrap sample of the training subjects that have the modality (one draw
        of a multiple imputation); ``residual_sd_`` is then measured out of bag.
    random_state : int or None
        Seed of the bootstrap and of stochastic cores.
    shift : float
        MNAR delta: filled-in values moved by this many standard deviations (0: none).

    Attributes
    ----------
    predictors_ : PredictorEncoder
    target_ : TargetScale
    residual_sd_ : ndarray of shape (n_target_features,)
        Residual standard deviation of the imputed values, standardised scale.
    """

    def __init__(self, modality: str = "", n_components: int = 10, bootstrap: bool = False,
                 random_state=None, shift: float = 0.0) -> None:
        self.modality = modality
        self.n_components = n_components
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.shift = shift

    def fit(self, data: MultiModalData, y=None) -> ModalityImputer:
        """Learn to fill ``modality`` from the training subjects ``data``."""
        self.target_ = TargetScale(self.modality).fit(data)
        self.predictors_ = PredictorEncoder(self.modality, self.n_components).fit(data)
        has = data.available[self.modality].to_numpy()
        p = self.predictors_.transform(data)[has]
        if self.needs_pairs:
            self._check_pairs(data, p)
        t = self.target_.transform(data.block(self.modality))
        rows = np.arange(len(t))
        if self.bootstrap:
            rng = np.random.default_rng(self.random_state)
            rows = rng.integers(0, len(t), len(t))
        self._fit_core(p[rows], np.nan_to_num(t[rows]), np.isnan(t[rows]))
        held = np.setdiff1d(np.arange(len(t)), rows)
        check = held if len(held) >= 2 else rows
        residual = self._predict_core(p[check]) - t[check]
        self.residual_sd_ = np.sqrt(np.nanmean(residual ** 2, axis=0))
        self.residual_sd_ = np.where(np.isfinite(self.residual_sd_), self.residual_sd_, 1.0)
        self.n_training_subjects_ = int(has.sum())
        return self

    #: whether the method learns from subjects that have the modality and another one
    needs_pairs = True

    def _check_pairs(self, data: MultiModalData, p: np.ndarray) -> None:
        """Refuse a target that no training subject has together with another modality."""
        if p.shape[1] and (~np.isnan(p)).any():
            return
        others = [m for m in data.modality_names if m != self.modality]
        raise DataValidationError(
            f"impute: no training subject has {self.modality!r} together with another tabular "
            f"modality ({', '.join(others) or 'none'}), so {type(self).__name__} cannot learn "
            "to translate; use method 'cycle' for cohorts measured on different subjects, or "
            "'mean'.")

    def _fit_core(self, p: np.ndarray, t: np.ndarray, missing_cells: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_core(self, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, data: MultiModalData, draw: int | None = None,
                  shift: float | None = None) -> MultiModalData:
        """``data`` with ``modality`` filled in for the subjects that lack it (and missing
        cells of those that have it), marked available.

        Parameters
        ----------
        data : MultiModalData
        draw : int, optional
            Seed of one multiple-imputation draw (see the module docstring); None gives the
            imputer's best guess.
        shift : float, optional
            MNAR delta for this call (default: the ``shift`` parameter).
        """
        check_is_fitted(self, "target_")
        if self.modality not in data.modality_names:
            raise DataValidationError(f"impute: the data have no modality {self.modality!r} "
                                      f"to fill in (they have {data.modality_names}).")
        has = data.available[self.modality].to_numpy()
        block = data.block(self.modality, available_only=False)
        z = np.full((len(data), len(self.target_.columns_)), np.nan)
        if has.any():
            z[has] = self.target_.transform(data.block(self.modality))
        gaps = np.isnan(z)
        if not gaps.any():
            return data
        rows = gaps.any(axis=1)
        guess = self._predict_core(self.predictors_.transform(data)[rows])
        if draw is not None:
            guess = guess + self._noise(data.subjects[rows], draw)
        guess = guess + float(self.shift if shift is None else shift)
        z[rows] = np.where(gaps[rows], guess, z[rows])
        filled = self.target_.inverse(z, data.subjects)
        if has.any():
            observed = block.loc[data.subjects[has]].to_numpy(dtype=float)
            keep = ~np.isnan(observed)
            filled.iloc[np.flatnonzero(has)] = np.where(
                keep, observed, filled.to_numpy()[has])
        return data.with_imputed(self.modality, filled)

    def _noise(self, subjects, draw: int) -> np.ndarray:
        out = np.empty((len(subjects), len(self.residual_sd_)))
        for i, subject in enumerate(subjects):
            rng = np.random.default_rng([int(draw), zlib.crc32(str(subject).encode())])
            out[i] = rng.normal(size=len(self.residual_sd_)) * self.residual_sd_
        return out
