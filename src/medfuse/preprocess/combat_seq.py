"""ComBat-seq: batch adjustment of RNA-seq counts with a negative binomial model.

Follows R's ``sva::ComBat_seq`` (Zhang, Parmigiani & Johnson 2020): per batch dispersions
(common then gene-wise, Cox-Reid adjusted), an NB GLM of batch + biological design, optional
empirical Bayes shrinkage of the batch effects (and dispersions) across genes, and quantile
matching of every count from its batch's fitted NB distribution to the batch-free one, so the
output stays integer. ``fit`` freezes the per-gene coefficients and
dispersions; ``transform`` adjusts new subjects of the training batches with them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import betainc, gammaln
from scipy.stats import nbinom
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.preprocess import _nbglm
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

_PRIOR_COUNT = 1e-4


class ComBatSeq(TransformerMixin, BaseEstimator):
    """Negative binomial batch adjustment of counts (ComBat-seq), integer in, integer out.

    Parameters
    ----------
    ref_batch : label, optional
        Reference batch: left unchanged; the others are mapped to its mean and dispersion.
    full_mod : bool
        Include ``group`` (biological condition) in the model, as R's ``full_mod``.
    batch_col, group_col : str
        obs columns of batch and condition when ``obs`` is passed instead.
    covariate_cols : sequence of str, optional
        obs columns of further covariates when ``obs`` is passed.
    shrink : bool
        Empirical Bayes shrinkage of the batch effects (R's ``shrink=TRUE``): each gene's
        effect in a batch becomes the average of the other genes' effects, weighted by the
        likelihood of this gene's counts in that batch under each other gene's fitted NB
        model (Monte Carlo integration over the empirical prior). Cost: genes^2 x samples.
    shrink_disp : bool
        With ``shrink``, also shrink the dispersions the counts are mapped to (R's
        ``shrink.disp=TRUE``).
    gene_subset : int, optional
        With ``shrink``, integrate over this many randomly drawn other genes instead of all
        of them (R's ``gene.subset.n``; the draw is numpy's, so it differs from R's).
    random_state : int, optional
        Seed of the ``gene_subset`` draw.
    n_jobs : int, optional
        Threads (batches' dispersions and the quantile matching run in parallel; None: 1,
        -1: all cores).
    unseen_batch : {"error", "reference", "fit-new"}
        What ``transform`` does with a batch not seen in fit: raise (naming it), leave its
        subjects unchanged as if they were of the reference batch (needs ``ref_batch``), or
        estimate its location from its own subjects: each gene's batch effect is the log of
        the batch's total count over the total of the batch-free fitted means, and its
        dispersion is taken as the batch-free one (only the location is adjusted).

    Attributes
    ----------
    batches_ : list
    adjusted_ : ndarray of bool (n_genes,)
        Genes with counts in every batch (the others are returned unchanged).
    coef_ : ndarray (n_adjusted, n_design)
        NB GLM coefficients (natural log) of the batch + biological design.
    batch_effect_ : ndarray (n_adjusted, n_batches)
        Log-scale batch effects removed by ``transform``: the GLM's ``gamma_hat``, or their
        posterior means with ``shrink`` (``gamma_hat`` is then ``raw_batch_effect_``).
    dispersion_ : ndarray (n_adjusted, n_batches)
        Gene-wise dispersions per batch; ``target_dispersion_`` is the batch-free one.
    """

    def __init__(self, ref_batch=None, full_mod: bool = True, batch_col: str = "batch",
                 group_col: str | None = None,
                 covariate_cols: Sequence[str] | None = None, shrink: bool = False,
                 shrink_disp: bool = False, gene_subset: int | None = None,
                 random_state=None, n_jobs: int | None = None,
                 unseen_batch: str = "error") -> None:
        self.ref_batch = ref_batch
        self.full_mod = full_mod
        self.batch_col = batch_col
        self.group_col = group_col
        self.covariate_cols = covariate_cols
        self.shrink = shrink
        self.shrink_disp = shrink_disp
        self.gene_subset = gene_subset
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.unseen_batch = unseen_batch

    def fit(self, X, y=None, *, batch=None, group=None, covariates=None, obs=None):
        """Estimate dispersions and the NB GLM on training subjects (subjects x genes)."""
        check_unseen_policy(self.unseen_batch, self.ref_batch)
        counts, index = self._counts(X, reset=True)
        n = counts.shape[0]
        batch, group, covariates = self._metadata(batch, group, covariates, obs, n, index)
        levels = batch_levels(batch)
        if len(levels) < 2:
            raise ValueError(f"ComBat-seq needs at least two batches, got {levels}.")
        lookup = level_lookup(levels)
        idx = np.array([lookup[b] for b in batch])
        n_b = np.bincount(idx, minlength=len(levels))
        if (n_b <= 1).any():
            raise ValueError(f"ComBat-seq needs >1 sample per batch; batch(es) "
                             f"{[levels[i] for i in np.flatnonzero(n_b <= 1)]} have one.")
        ref = None
        if self.ref_batch is not None:
            ref = find_level(lookup, self.ref_batch)
            if ref is None:
                raise ValueError(f"ref_batch {self.ref_batch!r} is not one of {levels}.")

        genes = counts.T
        keep = np.ones(genes.shape[0], bool)
        for i in range(len(levels)):
            keep &= (genes[:, idx == i] != 0).any(axis=1)
        y = genes[keep]

        bio, coding = self._bio_design(group, covariates, n, index)
        check_confounding(idx, levels, bio, coding,
                          _bio_frame(group, covariates, n), index)
        batchmod = np.zeros((n, len(levels)))
        batchmod[np.arange(n), idx] = 1.0
        mod = np.column_stack([np.ones(n), bio])
        design = np.column_stack([batchmod, bio])

        def batch_dispersion(i: int) -> np.ndarray:
            cols = idx == i
            yb, mb = y[:, cols], mod[cols]
            off = np.log(yb.sum(axis=0))
            if n_b[i] <= design.shape[1] - len(levels) + 1 \
                    or np.linalg.matrix_rank(mb) < mb.shape[1]:
                common = _nbglm.common_dispersion(yb, np.ones((cols.sum(), 1)), off)
                return np.full(yb.shape[0], common)
            common = _nbglm.common_dispersion(yb, mb, off)
            return _nbglm.tagwise_dispersion(yb, mb, off, common)

        disp = np.column_stack(_map(batch_dispersion, range(len(levels)), self._threads()))
        phi = disp[:, idx]

        log_lib = np.log(y.sum(axis=0))
        coef1 = _shrunk_coef(y, design, log_lib[None, :], phi)
        alpha = coef1[:, ref] if ref is not None else coef1[:, :len(levels)] @ (n_b / n)
        offset2 = log_lib[None, :] + alpha[:, None]
        beta2, _ = _nbglm.nb_fit(y, design, offset2, phi)
        gamma = _shrunk_coef(y, design, offset2, phi)[:, :len(levels)]
        self.raw_batch_effect_ = gamma
        target_disp = disp
        if self.shrink:
            mu_hat = np.exp(beta2 @ design.T + offset2)
            rng = np.random.default_rng(self.random_state)
            posterior = _map(lambda i: _posterior_nb(
                y[:, idx == i], mu_hat[:, idx == i], gamma[:, i], disp[:, i],
                self.gene_subset, rng), range(len(levels)), 1)
            gamma = np.column_stack([g for g, _ in posterior])
            if self.shrink_disp:
                target_disp = np.column_stack([p for _, p in posterior])

        self.batches_ = levels
        self.ref_index_ = ref
        self.adjusted_ = keep
        self.coef_ = beta2
        self.grand_mean_ = alpha
        self.batch_effect_ = gamma
        self.dispersion_ = disp
        self.target_dispersion_ = (target_disp[:, ref] if ref is not None
                                   else target_disp.mean(axis=1))
        self.covariate_coding_ = coding
        self.uses_group_ = self._use_group(group)
        return self

    def transform(self, X, *, batch=None, group=None, covariates=None, obs=None):
        """Integer counts with the batch effects removed (subjects x genes); subjects of a
        batch unseen in fit follow ``unseen_batch``."""
        check_is_fitted(self, "coef_")
        check_unseen_policy(self.unseen_batch, self.ref_batch)
        counts, index = self._counts(X, reset=False)
        n = counts.shape[0]
        batch, group, covariates = self._metadata(batch, group, covariates, obs, n, index)
        lookup = level_lookup(self.batches_)
        found = [find_level(lookup, b) for b in batch]
        idx = np.array([-1 if j is None else j for j in found], dtype=int)
        seen = idx >= 0
        unseen = list(pd.unique(batch[~seen]))
        if unseen and self.unseen_batch == "error":
            raise UnseenBatchError(unseen, self.batches_, "ComBat-seq")
        bio = covariate_matrix(self.covariate_coding_, _bio_frame(group, covariates, n)
                               if self.covariate_coding_.columns else None, n, index)
        batchmod = np.zeros((n, len(self.batches_)))
        batchmod[np.flatnonzero(seen), idx[seen]] = 1.0
        design = np.column_stack([batchmod, bio])
        y = counts.T[self.adjusted_]
        log_lib = np.log(y.sum(axis=0))
        # an unseen batch has no indicator: its mu is the batch-free mean
        mu = np.exp(self.coef_ @ design.T + log_lib[None, :] + self.grand_mean_[:, None])
        effect = np.zeros_like(mu)
        effect[:, seen] = self.batch_effect_[:, idx[seen]]
        old_phi = np.empty_like(mu)
        old_phi[:, seen] = self.dispersion_[:, idx[seen]]
        old_phi[:, ~seen] = self.target_dispersion_[:, None]
        if self.unseen_batch == "fit-new":
            for label in unseen:
                cols = np.flatnonzero(batch == label)
                total = y[:, cols].sum(axis=1)
                with np.errstate(divide="ignore"):
                    g = np.where(total > 0, np.log(total / mu[:, cols].sum(axis=1)), 0.0)
                mu[:, cols] *= np.exp(g)[:, None]
                effect[:, cols] = g[:, None]
        mu_star = np.exp(np.log(mu) - effect)
        new_phi = np.broadcast_to(self.target_dispersion_[:, None], y.shape)
        bounds = np.linspace(0, y.shape[0], self._threads() + 1).astype(int)
        out = np.vstack(_map(lambda k: _match_quantiles(
            *(a[bounds[k]:bounds[k + 1]] for a in (y, mu, old_phi, mu_star, new_phi))),
            range(len(bounds) - 1), self._threads()))
        unchanged = (idx == self.ref_index_) if self.ref_index_ is not None else np.zeros(n, bool)
        if self.unseen_batch == "reference":
            unchanged |= ~seen
        out[:, unchanged] = y[:, unchanged]
        result = counts.copy()
        result[:, self.adjusted_] = out.T
        result = np.rint(result).astype(np.int64)
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(result, index=X.index, columns=X.columns)
        return result

    def fit_transform(self, X, y=None, *, batch=None, group=None, covariates=None, obs=None):
        """Fit and adjust the training counts (R's ``ComBat_seq`` output)."""
        kw = {"batch": batch, "group": group, "covariates": covariates, "obs": obs}
        return self.fit(X, **kw).transform(X, **kw)

    # ---------------------------------------------------------------- helpers
    def _threads(self) -> int:
        if self.n_jobs is None:
            return 1
        return (os.cpu_count() or 1) if self.n_jobs < 0 else int(self.n_jobs)

    def _use_group(self, group) -> bool:
        return (self.full_mod and group is not None
                and len(pd.unique(np.asarray(group, dtype=object))) > 1)

    def _bio_design(self, group, covariates, n, index):
        frame = _bio_frame(group if self._use_group(group) else None, covariates, n)
        coding = fit_covariates(frame, n, index)
        return covariate_matrix(coding, frame, n, index), coding

    def _metadata(self, batch, group, covariates, obs, n, index):
        if obs is not None:
            if index is not None and not obs.index.equals(index):
                obs = obs.loc[index]
            if batch is None:
                batch = obs[self.batch_col]
            if group is None and self.group_col:
                group = obs[self.group_col]
            if covariates is None and self.covariate_cols:
                covariates = obs[list(self.covariate_cols)]
        if group is not None:
            group = np.asarray(group, dtype=object)
        return as_batch_array(batch, n, index), group, covariates

    def _counts(self, X, reset: bool):
        index = X.index if isinstance(X, pd.DataFrame) else None
        values = np.asarray(X, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"ComBat-seq expects subjects x genes, got {values.shape}.")
        if np.isnan(values).any() or (values < 0).any() or (values != np.rint(values)).any():
            raise ValueError("ComBat-seq expects non-negative integer counts without NaN.")
        if reset:
            self.n_features_in_ = values.shape[1]
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif values.shape[1] != self.n_features_in_:
            raise ValueError(f"ComBat-seq was fitted on {self.n_features_in_} genes, got "
                             f"{values.shape[1]}.")
        return values, index

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "coef_")
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_.copy()
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)


def _map(func, items, n_jobs: int) -> list:
    """``[func(i) for i in items]``, on ``n_jobs`` threads (numpy/scipy release the GIL)."""
    items = list(items)
    if n_jobs <= 1 or len(items) <= 1:
        return [func(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), ThreadPoolExecutor(min(n_jobs, len(items))) as pool:
        return list(pool.map(func, items))


def _bio_frame(group, covariates, n) -> pd.DataFrame | None:
    parts = []
    if group is not None:
        parts.append(pd.DataFrame({"group": pd.Series(np.asarray(group, dtype=object))
                                   .astype(str).to_numpy()}))
    if covariates is not None:
        cov = covariates if isinstance(covariates, pd.DataFrame) else pd.DataFrame(covariates)
        parts.append(cov.reset_index(drop=True))
    if not parts:
        return None
    return pd.concat(parts, axis=1)


def _posterior_nb(counts: np.ndarray, mu: np.ndarray, gamma: np.ndarray, phi: np.ndarray,
                  subset: int | None, rng: np.random.Generator,
                  budget: int = 4_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means of one batch's gene effects and dispersions, as sva's
    ``monte_carlo_int_NB``.

    For gene i, every other gene j is a draw from the empirical prior; its weight is the
    likelihood of gene i's counts in the batch under gene j's fitted means ``mu[j]`` and
    dispersion ``phi[j]``, ``L_ij = prod_s NB(counts[i, s]; mu[j, s], 1 / phi[j])``. Then
    ``gamma*_i = sum_j L_ij gamma_j / sum_j L_ij`` (likewise ``phi*``); a gene whose weights
    all underflow keeps its own estimates.

    Parameters
    ----------
    counts, mu : (genes, batch samples)
    gamma, phi : (genes,)
    subset : int, optional, number of other genes drawn per gene (all when None).
    budget : int, array elements per block of log-likelihoods (bounds the memory).
    """
    n_genes, n_samples = counts.shape
    size = 1.0 / phi
    log_p = np.log(size[:, None] / (size[:, None] + mu))          # (genes j, samples)
    log_q = np.log(mu / (size[:, None] + mu))
    lg_size = gammaln(size)
    lg_x1 = gammaln(counts + 1)

    def loglik(i: int, js: np.ndarray) -> np.ndarray:
        """sum_s log NB(counts[i, s]; mu[j, s], size[j]) for the genes ``js``."""
        x = counts[i]
        return (gammaln(x[None, :] + size[js, None]) - lg_size[js, None] - lg_x1[i][None, :]
                + size[js, None] * log_p[js] + x[None, :] * log_q[js]).sum(axis=1)

    gamma_star, phi_star = gamma.copy(), phi.copy()
    everyone = np.arange(n_genes)
    step = max(1, budget // max(1, n_genes * n_samples))
    for start in range(0, n_genes, step):
        rows = everyone[start:start + step]
        if subset is None:
            x = counts[rows]
            block = (gammaln(x[:, None, :] + size[None, :, None]) - lg_size[None, :, None]
                     - lg_x1[rows][:, None, :] + size[None, :, None] * log_p[None]
                     + x[:, None, :] * log_q[None]).sum(axis=2)
        for r, i in enumerate(rows):
            others = np.delete(everyone, i)
            if subset is None:
                ll = block[r, others]
            else:
                others = rng.choice(others, size=int(subset), replace=False)
                ll = loglik(i, others)
            lik = np.exp(ll)
            lik[np.isnan(lik)] = 0.0
            total = lik.sum()
            if total > 0 and np.isfinite(total):
                gamma_star[i] = lik @ gamma[others] / total
                phi_star[i] = lik @ phi[others] / total
    return gamma_star, phi_star


def _shrunk_coef(y, design, offset, phi):
    """edgeR's coefficients with ``prior.count``: an NB fit to counts plus library-scaled
    prior counts, with the library sizes enlarged by twice the prior."""
    lib = np.exp(np.broadcast_to(offset, y.shape))
    prior = _PRIOR_COUNT * lib / lib.mean(axis=1, keepdims=True)
    beta, _ = _nbglm.nb_fit(y + prior, design, np.log(lib + 2 * prior), phi)
    return beta


def _match_quantiles(y, old_mu, old_phi, new_mu, new_phi):
    """Map each count > 1 to the new NB distribution at the same cumulative probability.

    As sva's ``match_quantiles``: ``1 + qnbinom(pnbinom(y - 1, old), new)``, counts <= 1 and
    counts in the extreme upper tail (``|p - 1| < 1e-4``) kept.
    """
    out = y.copy()
    cells = y > 1
    yc = y[cells]
    size_old = 1.0 / np.broadcast_to(old_phi, y.shape)[cells]
    p, _ = _nb_cdf(yc - 1, size_old, size_old / (size_old + old_mu[cells]), pmf=False)
    size_new = 1.0 / np.broadcast_to(new_phi, y.shape)[cells]
    mu_new, mu_old = new_mu[cells], old_mu[cells]
    # start the search at the count with the same standardised score under the new
    # distribution: within a step or two of the answer even when the dispersion changes
    # (scaling by the mean ratio alone lands tens to thousands of steps away)
    sd_ratio = np.sqrt((mu_new + mu_new**2 / size_new) / (mu_old + mu_old**2 / size_old))
    guess = np.maximum(np.rint(mu_new + (yc - 1 - mu_old) * sd_ratio), 0)
    q = _nb_quantile(p, size_new, size_new / (size_new + mu_new), guess)
    out[cells] = np.where(np.abs(p - 1) < 1e-4, yc, 1 + q)
    return out


def _nb_quantile(p, size, prob, guess, max_steps: int = 200):
    """Smallest k with NB cdf(k) >= p (R's ``qnbinom`` with its left-continuity fuzz),
    searched from ``guess`` by stepping the pmf recursion."""
    target = p * (1 - 8 * np.finfo(float).eps)
    k = guess.astype(float)
    c, pm = _nb_cdf(k, size, prob, pmf=True)
    active = np.flatnonzero(k > 0)
    unresolved = np.zeros(k.shape, bool)
    for step in range(max_steps + 1):                # down while cdf(k - 1) >= target
        move = (k[active] > 0) & (c[active] - pm[active] >= target[active])
        active = active[move]
        if active.size == 0:
            break
        if step == max_steps:
            unresolved[active] = True
            break
        c[active] -= pm[active]
        pm[active] *= k[active] / ((k[active] - 1 + size[active]) * (1 - prob[active]))
        k[active] -= 1
    active = np.flatnonzero((c < target) & ~unresolved)
    for _ in range(max_steps):                       # up while cdf(k) < target
        if active.size == 0:
            break
        pm[active] *= (k[active] + size[active]) * (1 - prob[active]) / (k[active] + 1)
        k[active] += 1
        c[active] += pm[active]
        active = active[c[active] < target[active]]
    unresolved[active] = True
    if unresolved.any():                             # far from the guess: exact search
        k[unresolved] = nbinom.ppf(target[unresolved], size[unresolved], prob[unresolved])
    return k


def _nb_cdf(k, size, prob, pmf: bool, small: int = 64):
    """NB cdf (and pmf when ``pmf``) at integer-valued ``k`` (1-d arrays of one shape).

    Counts up to ``small`` (< 65536) sum the pmf recursion from ``pmf(0) = prob ** size``
    (a few multiply-adds per step, where ``betainc`` costs hundreds of nanoseconds per
    cell); the rest, and cells whose ``pmf(0)`` would leave the normal floating-point range,
    use the regularised incomplete beta function and the log-gamma pmf.
    """
    log_p0 = size * np.log(prob)
    fast = (k <= small) & (log_p0 > -700.0)
    cdf = np.empty(k.shape)
    pm = np.empty(k.shape) if pmf else None
    slow = np.flatnonzero(~fast)
    if slow.size:
        ks, ss, ps = k[slow], size[slow], prob[slow]
        cdf[slow] = betainc(ss, ks + 1, ps)
        if pmf:
            pm[slow] = np.exp(gammaln(ks + ss) - gammaln(ss) - gammaln(ks + 1)
                              + log_p0[slow] + ks * np.log1p(-ps))
    cells = np.flatnonzero(fast)
    if cells.size:
        # largest k first, so the cells still summing at step j are a leading slice
        cells = cells[np.argsort((small - k[cells]).astype(np.uint16), kind="stable")]
        kf, sf, qf = k[cells], size[cells], 1.0 - prob[cells]
        term = np.exp(log_p0[cells])
        total = term.copy()
        n_left = np.searchsorted(-kf, -np.arange(1, small + 1), side="right")
        factor = np.empty_like(term)
        for j, n in enumerate(n_left, start=1):
            if n == 0:
                break
            f = factor[:n]
            np.add(sf[:n], j - 1, out=f)
            f *= qf[:n]
            f /= j
            term[:n] *= f
            total[:n] += term[:n]
        cdf[cells] = total
        if pmf:
            pm[cells] = term
    return cdf, pm
