"""ComBat batch harmonization (Johnson, Li & Rabinovic 2007), fitted on training subjects.

Numerically this reproduces R's ``sva::ComBat`` (parametric and non-parametric empirical
Bayes, ``mean.only``, ``ref.batch``, covariates through ``mod``, NaN cells, features with zero
variance in a batch) and adds what a train/test workflow needs: the estimates are frozen in
``fit`` and applied to new subjects in ``transform``, with a policy for batches never seen.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.preprocess._combat_eb import (
    batch_moments,
    inverse_gamma_priors,
    nonparametric_eb,
    parametric_eb,
    postmean,
)
from medfuse.preprocess._design import (
    UnseenBatchError,
    as_batch_array,
    batch_levels,
    check_confounding,
    check_unseen_policy,
    covariate_matrix,
    find_level,
    fit_covariates,
    level_lookup,
)


class ComBat(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Empirical Bayes location/scale batch harmonization (ComBat).

    Each feature is modelled as ``x = alpha + C beta + gamma_batch + delta_batch * eps``;
    ``alpha`` (grand mean), ``beta`` (effects of the protected covariates ``C``) and the
    pooled variance are estimated in ``fit``; the batch location ``gamma`` and scale ``delta``
    are shrunk across features by empirical Bayes. ``transform`` removes the batch effects of
    any subjects of the training batches with the frozen estimates, keeping covariate effects.

    Batch and covariates are passed as keyword metadata (``batch=``, ``covariates=``), which
    scikit-learn's metadata routing forwards inside a Pipeline or ``cross_validate`` once
    requested (``ComBat().set_fit_request(batch=True).set_transform_request(batch=True)``).
    medfuse's per-modality preprocessing passes ``obs=`` (the subjects' obs rows) instead;
    the batch is then read from ``obs[batch_col]`` and the covariates from
    ``obs[covariate_cols]``. Explicit ``batch``/``covariates`` win over ``obs``.

    Parameters
    ----------
    parametric : bool
        Parametric (normal / inverse-gamma priors) or non-parametric empirical Bayes.
    mean_only : bool
        Adjust only the batch means (scales left at 1).
    eb : bool
        Shrink the batch estimates by empirical Bayes; False uses the per-feature estimates.
    ref_batch : label, optional
        Reference batch: left unchanged, the others are mapped onto it.
    unseen_batch : {"error", "reference", "fit-new"}
        What ``transform`` does with a batch not seen in fit: raise (naming it), treat it
        as the reference batch (left unchanged; needs ``ref_batch``), or estimate its
        location/scale from its own samples against the frozen grand mean and pooled variance.
    batch_col : str
        Column of ``obs`` holding the batch when ``obs`` is given instead of ``batch``.
    covariate_cols : sequence of str, optional
        Columns of ``obs`` used as protected covariates when ``obs`` is given.
    chunk_size : int, optional
        Features per block in the non-parametric prior (memory ~ ``8 * chunk_size * G`` bytes;
        None: blocks of about 1 MiB, which keeps each block in cache).
    n_jobs : int, optional
        Threads for the non-parametric prior (None: 1, -1: all cores).

    Attributes
    ----------
    batches_ : list
        Batch levels in fit, in R's factor order.
    ref_index_ : int or None
    mean_only_ : bool
        Whether the mean-only model was used (forced by a batch with one sample).
    adjusted_ : ndarray of bool (n_features,)
        Features that are adjusted (False: zero variance in some batch, returned as is).
    coef_ : ndarray (n_batches + n_covariate_columns, n_adjusted)
        Least-squares coefficients of the batch + covariate design (R's ``B.hat``).
    design_names_ : list of str
    grand_mean_, var_pooled_ : ndarray (n_adjusted,)
    gamma_hat_, delta_hat_, gamma_star_, delta_star_ : ndarray (n_batches, n_adjusted)
        Per-feature and empirical-Bayes batch location and scale (standardised units).
    """

    def __init__(self, parametric: bool = True, mean_only: bool = False, eb: bool = True,
                 ref_batch=None, unseen_batch: str = "error", batch_col: str = "batch",
                 covariate_cols: Sequence[str] | None = None, chunk_size: int | None = None,
                 n_jobs: int | None = None) -> None:
        self.parametric = parametric
        self.mean_only = mean_only
        self.eb = eb
        self.ref_batch = ref_batch
        self.unseen_batch = unseen_batch
        self.batch_col = batch_col
        self.covariate_cols = covariate_cols
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, batch=None, covariates=None, obs=None):
        """Estimate the model on training subjects.

        Parameters
        ----------
        X : DataFrame or ndarray (n_subjects, n_features)
        batch : array-like (n_subjects,)
        covariates : DataFrame (n_subjects, n_covariates), optional
            Numeric columns enter linearly, others as factors (first sorted level = baseline).
        obs : DataFrame, optional
            Subjects' obs rows; source of batch/covariates when those are not given.
        """
        check_unseen_policy(self.unseen_batch, self.ref_batch)
        values, index = self._values(X, reset=True)
        n = values.shape[0]
        batch, covariates = self._metadata(batch, covariates, obs, n, index)
        levels = batch_levels(batch)
        if len(levels) < 2:
            raise ValueError(f"ComBat needs at least two batches, got {levels}.")
        lookup = level_lookup(levels)
        idx = np.array([lookup[b] for b in batch])
        n_b = np.bincount(idx, minlength=len(levels))
        ref = None
        if self.ref_batch is not None:
            ref = find_level(lookup, self.ref_batch)
            if ref is None:
                raise ValueError(f"ref_batch {self.ref_batch!r} is not one of the batches "
                                 f"{levels}.")

        mean_only = bool(self.mean_only)
        if (n_b == 1).any():
            single = [levels[i] for i in np.flatnonzero(n_b == 1)]
            warnings.warn(f"Batch(es) {single} have a single sample; using the mean-only "
                          "ComBat model.", UserWarning, stacklevel=2)
            mean_only = True

        coding = fit_covariates(covariates, n, index)
        mod = covariate_matrix(coding, covariates, n, index)
        ones = np.all(mod == 1.0, axis=0)            # R drops all-ones columns (intercepts)
        check_confounding(idx, levels, mod[:, ~ones], _drop(coding, ones), covariates, index)
        batchmod = np.zeros((n, len(levels)))
        batchmod[np.arange(n), idx] = 1.0
        if ref is not None:
            batchmod[:, ref] = 1.0
        design = np.column_stack([batchmod, mod[:, ~ones]])
        # Samples grouped by batch make every per-batch pass a view (no copies); the fitted
        # statistics are per feature, so the order of the samples does not matter.
        owned = (np.diff(idx) < 0).any()          # values a private copy we may overwrite
        if owned:
            order = np.argsort(idx, kind="stable")
            values, idx, design = values[order], idx[order], design[order]
            batchmod = batchmod[order]
        bounds = np.r_[0, np.cumsum(n_b)]
        slices = [slice(bounds[i], bounds[i + 1]) for i in range(len(levels))]

        self.adjusted_ = ~_zero_variance(values, slices)
        data = values if self.adjusted_.all() else values[:, self.adjusted_]
        owned = owned or data is not values
        has_nan = bool(np.isnan(data).any())
        n_batch = len(levels)
        if not has_nan and ref is None and design.shape[1] == n_batch:
            # Batch-only design without NaN: every fitted quantity follows from per-batch
            # means and sums of squares of the raw data (R's B.hat are the batch means, the
            # residual sum of squares is the sum of the within-batch ones), so neither the
            # residuals nor the standardised data are materialised.
            raw = [batch_moments(data[sl]) for sl in slices]
            coef = np.stack([mean for _, mean, _ in raw])
            grand_mean = (n_b / n) @ coef
            var_pooled = sum(ss for _, _, ss in raw) / n
            sd = np.sqrt(var_pooled)
            gamma_hat = (coef - grand_mean) / sd
            moments = [(cnt, g, ss / var_pooled) for (cnt, _, ss), g in zip(raw, gamma_hat,
                                                                              strict=True)]
            blocks = [None] * n_batch                 # the EB steps use the moments only
        else:
            coef, gamma_hat, blocks, moments, grand_mean, var_pooled = self._standardise(
                data, owned, design, batchmod, slices, n_b, ref, has_nan)
        del data, values
        delta_hat = np.ones_like(gamma_hat)
        if not mean_only:
            for i, (cnt, _, ss) in enumerate(moments):
                with np.errstate(divide="ignore", invalid="ignore"):
                    delta_hat[i] = np.where(cnt > 1, ss / (cnt - 1), np.nan)
        gamma_star, delta_star, priors = self._empirical_bayes(
            blocks, moments, gamma_hat, delta_hat, mean_only)
        if ref is not None:
            gamma_star[ref] = 0.0
            delta_star[ref] = 1.0

        self.batches_ = levels
        self.n_per_batch_ = n_b
        self.ref_index_ = ref
        self.mean_only_ = mean_only
        self.covariate_coding_ = coding
        self.covariate_kept_ = ~ones
        self.design_names_ = [f"batch[{lev}]" for lev in levels] + [
            nm for nm, drop in zip(coding.names, ones, strict=True) if not drop]
        self.coef_ = coef
        self.grand_mean_ = grand_mean
        self.var_pooled_ = var_pooled
        self.gamma_hat_, self.delta_hat_ = gamma_hat, delta_hat
        self.gamma_star_, self.delta_star_ = gamma_star, delta_star
        self.gamma_bar_, self.t2_, self.a_prior_, self.b_prior_ = priors
        return self

    @staticmethod
    def _standardise(data, owned, design, batchmod, slices, n_b, ref, has_nan):
        """Least-squares fit, pooled variance and per-batch standardised data (general case)."""
        n, n_batch = data.shape[0], batchmod.shape[1]
        coef = _least_squares(design, data, has_nan)
        grand_mean = coef[ref] if ref is not None else (n_b / n) @ coef[:n_batch]
        rows = slices[ref] if ref is not None else slice(None)
        resid = design[rows] @ coef
        np.subtract(data[rows], resid, out=resid)
        if has_nan:
            var_pooled = np.nanvar(resid, axis=0, ddof=1)
        else:
            np.square(resid, out=resid)
            var_pooled = resid.mean(axis=0)
        del resid
        stand_mean = _stand_mean(grand_mean, design[:, n_batch:], coef[n_batch:])
        s = np.subtract(data, stand_mean, out=data if owned else None)
        s /= np.sqrt(var_pooled)
        gamma_hat = _least_squares(batchmod, s, has_nan)
        blocks = [s[sl] for sl in slices]
        return coef, gamma_hat, blocks, [batch_moments(b) for b in blocks], grand_mean, \
            var_pooled

    def _empirical_bayes(self, blocks, moments, gamma_hat, delta_hat, mean_only):
        n_batch = gamma_hat.shape[0]
        gamma_bar = gamma_hat.mean(axis=1)
        t2 = gamma_hat.var(axis=1, ddof=1)
        a_prior = np.full(n_batch, np.nan)
        b_prior = np.full(n_batch, np.nan)
        gamma_star = gamma_hat.copy()
        delta_star = delta_hat.copy()
        for i in range(n_batch):
            g, d = self._eb_one(blocks[i], gamma_hat[i], delta_hat[i], mean_only, moments[i])
            gamma_star[i], delta_star[i], a_prior[i], b_prior[i] = g, d, *_priors(
                delta_hat[i], mean_only)
        return gamma_star, delta_star, (gamma_bar, t2, a_prior, b_prior)

    def _eb_one(self, s, g_hat, d_hat, mean_only, moments=None):
        """Empirical Bayes estimates of one batch from its standardised samples ``s``."""
        if not self.eb:
            return g_hat.copy(), d_hat.copy()
        g_bar, t2 = g_hat.mean(), g_hat.var(ddof=1)
        if self.parametric:
            if mean_only:
                return postmean(g_hat, g_bar, 1.0, 1.0, t2), np.ones_like(g_hat)
            a, b = inverse_gamma_priors(d_hat)
            return parametric_eb(s, g_hat, d_hat, g_bar, t2, a, b, moments=moments)
        d = np.ones_like(d_hat) if mean_only else d_hat
        if self.n_jobs is None:
            n_jobs = 1
        else:
            n_jobs = (os.cpu_count() or 1) if self.n_jobs < 0 else self.n_jobs
        return nonparametric_eb(s, g_hat, d, chunk_size=self.chunk_size, n_jobs=n_jobs,
                                moments=moments)

    # ------------------------------------------------------------ transform
    def transform(self, X, *, batch=None, covariates=None, obs=None):
        """Remove the batch effects with the frozen estimates.

        Subjects of the reference batch and features with zero variance in a training batch
        are returned unchanged; NaN cells stay NaN.
        """
        check_is_fitted(self, "gamma_star_")
        values, index = self._values(X, reset=False)
        n = values.shape[0]
        batch, covariates = self._metadata(batch, covariates, obs, n, index)
        check_unseen_policy(self.unseen_batch, self.ref_batch)
        lookup = level_lookup(self.batches_)
        unseen = [b for b in pd.unique(batch) if find_level(lookup, b) is None]
        if unseen and self.unseen_batch == "error":
            raise UnseenBatchError(unseen, self.batches_, "ComBat")
        mod = covariate_matrix(self.covariate_coding_, covariates, n, index)
        mod = mod[:, self.covariate_kept_]
        n_batch = len(self.batches_)
        cols = None if self.adjusted_.all() else self.adjusted_
        result = np.empty_like(values)
        if cols is not None:
            result[:, ~cols] = values[:, ~cols]
        scale = np.sqrt(self.var_pooled_)
        for label in pd.unique(batch):
            rows = np.flatnonzero(batch == label)
            j = find_level(lookup, label)
            if j is not None:
                g, d = ((None, None) if j == self.ref_index_       # reference: left as is
                        else (self.gamma_star_[j], self.delta_star_[j]))
            elif self.unseen_batch == "reference":
                g, d = None, None
            else:
                g, d = "new", None
            if g is None:
                result[rows] = values[rows]
                continue
            block = values[rows] if cols is None else values[np.ix_(rows, cols)]
            stand = _stand_mean(self.grand_mean_, mod[rows], self.coef_[n_batch:])
            if d is None or stand.shape[0] > 1:
                block -= stand
                block /= scale
                if d is None:
                    g, d = self._fit_new_batch(label, block)
                block -= g
                block *= scale / np.sqrt(d)
                block += stand
            else:       # no covariates: the same map as an affine one, x * k + c
                k = 1.0 / np.sqrt(d)
                block *= k
                block += stand[0] * (1.0 - k) - g * scale * k
            if cols is None:
                result[rows] = block
            else:
                result[np.ix_(rows, cols)] = block
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(result, index=X.index, columns=X.columns, copy=False)
        return result

    def fit_transform(self, X, y=None, *, batch=None, covariates=None, obs=None):
        """Fit on ``X`` and return it harmonized (R's ``ComBat`` output)."""
        return self.fit(X, y, batch=batch, covariates=covariates, obs=obs).transform(
            X, batch=batch, covariates=covariates, obs=obs)

    def _fit_new_batch(self, label, s):
        """Location/scale of an unseen batch from its own standardised samples."""
        n = s.shape[0]
        mean_only = bool(self.mean_only)
        if n == 1 and not mean_only:
            warnings.warn(f"Unseen batch {label!r} has a single sample; adjusting its mean "
                          "only.", UserWarning, stacklevel=3)
            mean_only = True
        g_hat = np.nanmean(s, axis=0)
        if self.ref_index_ is not None:
            g_hat = g_hat - self.gamma_hat_[self.ref_index_]
        d_hat = np.ones_like(g_hat) if mean_only else np.nanvar(s, axis=0, ddof=1)
        return self._eb_one(s, g_hat, d_hat, mean_only)

    # -------------------------------------------------------------- helpers
    def _metadata(self, batch, covariates, obs, n, index):
        if obs is not None:
            obs = _aligned(obs, index)
            if batch is None:
                if self.batch_col not in obs.columns:
                    raise ValueError(f"obs has no batch column {self.batch_col!r} "
                                     f"(columns: {list(obs.columns)}).")
                batch = obs[self.batch_col]
            if covariates is None and self.covariate_cols:
                missing = [c for c in self.covariate_cols if c not in obs.columns]
                if missing:
                    raise ValueError(f"obs lacks covariate column(s) {missing}.")
                covariates = obs[list(self.covariate_cols)]
        return as_batch_array(batch, n, index), covariates

    def _values(self, X, reset: bool):
        index = X.index if isinstance(X, pd.DataFrame) else None
        values = np.asarray(X, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"ComBat expects subjects x features, got shape {values.shape}.")
        if reset:
            self.n_features_in_ = values.shape[1]
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif values.shape[1] != self.n_features_in_:
            raise ValueError(f"ComBat was fitted on {self.n_features_in_} features, got "
                             f"{values.shape[1]}.")
        if not np.isfinite(values).all() and np.isinf(values).any():
            raise ValueError("ComBat input holds infinite values.")
        return values, index


def _stand_mean(grand_mean: np.ndarray, mod: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Grand mean plus covariate effects (a row vector when there are no covariates)."""
    if mod.shape[1] == 0:
        return grand_mean[None, :]
    return grand_mean + mod @ coef


def _aligned(obs: pd.DataFrame, index) -> pd.DataFrame:
    if index is not None and not obs.index.equals(index):
        missing = index.difference(obs.index)
        if len(missing):
            raise ValueError(f"obs lacks subject(s) {list(missing[:5])}.")
        obs = obs.loc[index]
    return obs


def _drop(coding, drop: np.ndarray):
    """A copy of the covariate coding without the dropped design columns."""
    from dataclasses import replace

    return replace(coding,
                   names=[nm for nm, d in zip(coding.names, drop, strict=True) if not d],
                   owner=[o for o, d in zip(coding.owner, drop, strict=True) if not d])


def _priors(d_hat, mean_only):
    if mean_only:
        return np.nan, np.nan
    return inverse_gamma_priors(d_hat)


def _zero_variance(values: np.ndarray, slices: list[slice]) -> np.ndarray:
    """Features constant within some batch of >1 samples (R skips batches with NaN cells).

    ``slices``: each batch's rows of ``values`` (samples grouped by batch).
    """
    zero = np.zeros(values.shape[1], bool)
    for sl in slices:
        if sl.stop - sl.start > 1:
            block = values[sl]
            with np.errstate(invalid="ignore"):
                zero |= ~np.isnan(block).any(axis=0) & (block.max(axis=0) == block.min(axis=0))
    return zero


def _least_squares(design: np.ndarray, data: np.ndarray, has_nan: bool) -> np.ndarray:
    """Per-feature OLS coefficients (p x G); features with NaN use their observed rows."""
    if not has_nan:
        return np.linalg.solve(design.T @ design, design.T @ data)
    observed = ~np.isnan(data)
    complete = observed.all(axis=0)
    coef = np.empty((design.shape[1], data.shape[1]))
    if complete.any():
        coef[:, complete] = np.linalg.solve(design.T @ design, design.T @ data[:, complete])
    for j in np.flatnonzero(~complete):
        rows = observed[:, j]
        d = design[rows]
        try:
            coef[:, j] = np.linalg.solve(d.T @ d, d.T @ data[rows, j])
        except np.linalg.LinAlgError:
            raise ValueError(f"Feature {j} has too few observed cells to estimate its batch "
                             "and covariate effects (a batch is entirely missing).") from None
    return coef
