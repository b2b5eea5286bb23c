"""RNA-seq count normalisation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class LogCPM(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """log2 counts per million: ``log2(1e6 * (x + prior) / (library_size + 2 * prior))``.

    Each subject is normalised by its own library size (the row sum), so the transform is
    stateless and safe to apply to new subjects; the prior follows edgeR's ``cpm(log=TRUE)``
    convention of adding twice the prior to the library size.

    Parameters
    ----------
    prior_count : float
        Pseudo-count added to every cell before the log.
    """

    def __init__(self, prior_count: float = 1.0) -> None:
        self.prior_count = prior_count

    def fit(self, X, y=None):
        self._validate(X, reset=True)
        return self

    def transform(self, X):
        values = self._validate(X, reset=False)
        lib = values.sum(axis=1, keepdims=True)
        out = np.log2(1e6 * (values + self.prior_count) / (lib + 2 * self.prior_count))
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(out, index=X.index, columns=X.columns)
        return out

    def _validate(self, X, reset: bool) -> np.ndarray:
        values = np.asarray(X, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"LogCPM expects subjects x genes, got shape {values.shape}")
        if (values < 0).any():
            raise ValueError("LogCPM expects non-negative counts.")
        if reset:
            self.n_features_in_ = values.shape[1]
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif values.shape[1] != self.n_features_in_:
            raise ValueError(f"LogCPM was fitted on {self.n_features_in_} genes, got "
                             f"{values.shape[1]}.")
        return values


def _counts_matrix(X, name: str) -> np.ndarray:
    values = np.asarray(X, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"{name} expects subjects x genes, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"{name} expects complete counts; found missing cells.")
    if (values < 0).any():
        raise ValueError(f"{name} expects non-negative counts.")
    return values


def _like(X, values: np.ndarray):
    if isinstance(X, pd.DataFrame):
        return pd.DataFrame(values, index=X.index, columns=X.columns)
    return values


class MedianOfRatios(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """DESeq2 median-of-ratios size factors; ``transform`` divides counts by them.

    A subject's size factor is the median over genes of ``count / geometric mean``, where the
    per-gene geometric means are learned on the training subjects, so new subjects are scaled
    against the training reference (each new subject on its own: unlike DESeq2 with
    ``geoMeans``, the factors of new subjects are not renormalised among themselves).

    Parameters
    ----------
    method : {"auto", "ratio", "poscounts"}
        ``ratio``: geometric means over genes without zeros (DESeq2's default). ``poscounts``:
        DESeq2's zero-tolerant variant (geometric mean of positive counts over all subjects,
        factors scaled to geometric mean 1 in training). ``auto``: ``ratio`` unless every gene
        has a zero count, then ``poscounts``.

    Attributes
    ----------
    method_ : str
    log_geo_means_ : ndarray (n_genes,)
        Log geometric means of the training subjects (``-inf`` for genes not used).
    size_factors_ : ndarray (n_train_subjects,)
        Training subjects' size factors (as R's ``sizeFactors(estimateSizeFactors(dds))``).
    """

    def __init__(self, method: str = "auto") -> None:
        self.method = method

    def fit(self, X, y=None):
        from medfuse.preprocess._deseq import log_geo_means, raw_size_factors

        counts = _counts_matrix(X, "MedianOfRatios").T
        if self.method not in ("auto", "ratio", "poscounts"):
            raise ValueError(f"method must be 'auto', 'ratio' or 'poscounts', got "
                             f"{self.method!r}.")
        method = self.method
        if method == "auto":
            method = "poscounts" if (counts == 0).any(axis=1).all() else "ratio"
        self.method_ = method
        self.n_features_in_ = counts.shape[0]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.log_geo_means_ = log_geo_means(counts, method)
        raw = raw_size_factors(counts, self.log_geo_means_)
        self.scale_ = float(np.exp(np.mean(np.log(raw)))) if method == "poscounts" else 1.0
        self.size_factors_ = raw / self.scale_
        return self

    def size_factors(self, X) -> np.ndarray:
        """Size factors of (new) subjects against the training geometric means."""
        from medfuse.preprocess._deseq import raw_size_factors

        check_is_fitted(self, "log_geo_means_")
        counts = _counts_matrix(X, "MedianOfRatios")
        if counts.shape[1] != self.n_features_in_:
            raise ValueError(f"MedianOfRatios was fitted on {self.n_features_in_} genes, got "
                             f"{counts.shape[1]}.")
        return raw_size_factors(counts.T, self.log_geo_means_) / self.scale_

    def transform(self, X):
        """Normalised counts ``count / size_factor`` (subjects x genes)."""
        counts = _counts_matrix(X, "MedianOfRatios")
        return _like(X, counts / self.size_factors(X)[:, None])


class TPM(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Transcripts per million: ``1e6 * (count / length) / sum_genes(count / length)``.

    Stateless per subject (safe on new subjects).

    Parameters
    ----------
    gene_lengths : mapping gene -> length, Series or array (n_genes,)
        Effective gene lengths in bases; a mapping/Series is matched to the DataFrame columns.
    """

    def __init__(self, gene_lengths=None) -> None:
        self.gene_lengths = gene_lengths

    def fit(self, X, y=None):
        counts = _counts_matrix(X, "TPM")
        self.n_features_in_ = counts.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.lengths_ = self._lengths(X, counts.shape[1])
        return self

    def transform(self, X):
        check_is_fitted(self, "lengths_")
        counts = _counts_matrix(X, "TPM")
        if counts.shape[1] != self.n_features_in_:
            raise ValueError(f"TPM was fitted on {self.n_features_in_} genes, got "
                             f"{counts.shape[1]}.")
        rate = counts / self.lengths_
        total = rate.sum(axis=1, keepdims=True)
        if (total == 0).any():
            raise ValueError("TPM is undefined for a subject with no counts.")
        return _like(X, 1e6 * rate / total)

    def _lengths(self, X, n_genes: int) -> np.ndarray:
        if self.gene_lengths is None:
            raise ValueError("TPM needs gene_lengths.")
        lengths = self.gene_lengths
        if isinstance(lengths, dict):
            lengths = pd.Series(lengths)
        if isinstance(lengths, pd.Series):
            if not isinstance(X, pd.DataFrame):
                raise ValueError("gene_lengths given by name need a DataFrame with gene columns.")
            missing = [g for g in X.columns if g not in lengths.index]
            if missing:
                raise ValueError(f"gene_lengths lacks gene(s) {missing[:5]}"
                                 f"{' ...' if len(missing) > 5 else ''}.")
            lengths = lengths.reindex(X.columns)
        lengths = np.asarray(lengths, dtype=float)
        if lengths.shape != (n_genes,):
            raise ValueError(f"gene_lengths has {lengths.size} entries for {n_genes} genes.")
        if not (lengths > 0).all():
            raise ValueError("gene_lengths must be positive.")
        return lengths


class VST(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """DESeq2's variance stabilizing transformation, fitted on training subjects.

    ``fit`` estimates size factors (:class:`MedianOfRatios`), gene-wise dispersions with the
    Cox-Reid adjustment on an intercept-only design and the dispersion trend, as R's
    ``varianceStabilizingTransformation(dds, blind=TRUE, fitType=...)``; ``transform`` maps
    the normalised counts of any subjects through the VST of that trend, with new subjects'
    size factors taken against the training geometric means.

    As in DESeq2, when the parametric trend cannot be fitted (R's
    ``parametricDispersionFit`` fails, typically on small gene panels whose dispersions do not
    fall like ``a / mean + b``), a local regression trend is substituted with a warning and
    ``fit_type_`` says ``"local"``.

    Parameters
    ----------
    fit_type : {"parametric", "local", "mean"}
        Dispersion trend ``asymptDisp + extraPois / mean`` (closed-form VST), a locfit local
        regression of log dispersion on log mean (VST by numerical integration, as DESeq2),
        or a constant (trimmed mean; closed form).
    size_factors : {"auto", "ratio", "poscounts"}
        See :class:`MedianOfRatios`.

    Attributes
    ----------
    fit_type_ : str
        The trend used: ``fit_type``, or ``"local"`` where the parametric fit failed.
    size_factor_model_ : MedianOfRatios
    dispersions_ : ndarray (n_genes,)
        Gene-wise dispersion estimates (NaN for genes with no counts in training).
    asympt_disp_, extra_pois_ : float
        Parametric trend coefficients (``fit_type_ == "parametric"``).
    local_trend_ : LocalQuadraticFit
        Local trend of log dispersion on log mean (``fit_type_ == "local"``); its ``predict``
        takes log means.
    local_vst_ : LocalVST
        The numerically integrated map (``fit_type_ == "local"``). Its integration grid and
        log2 calibration come from the training subjects (R recomputes both from whichever
        subjects it transforms); counts above the training maximum continue the integral,
        so a subject's output never depends on the other subjects transformed with it.
    mean_disp_ : float
        Constant dispersion (``fit_type_ == "mean"``).
    """

    def __init__(self, fit_type: str = "parametric", size_factors: str = "auto") -> None:
        self.fit_type = fit_type
        self.size_factors = size_factors

    def fit(self, X, y=None):
        from medfuse.preprocess import _deseq
        from medfuse.preprocess._vst_local import fit_local_vst

        if self.fit_type not in ("parametric", "local", "mean"):
            raise ValueError(f"fit_type must be 'parametric', 'local' or 'mean', got "
                             f"{self.fit_type!r}.")
        counts = _counts_matrix(X, "VST")
        self.size_factor_model_ = MedianOfRatios(self.size_factors).fit(X)
        self.n_features_in_ = counts.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        sf = self.size_factor_model_.size_factors_
        genes = counts.T
        nonzero = genes.sum(axis=1) > 0
        disp = np.full(genes.shape[0], np.nan)
        disp[nonzero] = _deseq.genewise_dispersions(genes[nonzero], sf)
        self.dispersions_ = disp
        base_mean = (genes / sf).mean(axis=1)
        use = nonzero & (disp > 100 * _deseq.MIN_DISP)
        if not use.any():
            raise ValueError("All gene-wise dispersions are within two orders of magnitude of "
                             "the minimum (1e-8), so no dispersion trend can be fitted "
                             "(DESeq2 stops here too); the counts look Poisson: use LogCPM.")
        fit_type = self.fit_type
        if fit_type == "parametric":
            try:
                self.asympt_disp_, self.extra_pois_ = _deseq.parametric_trend(base_mean[use],
                                                                              disp[use])
            except _deseq.TrendFitError as err:
                warnings.warn(
                    f"VST: the parametric dispersion trend asymptDisp + extraPois / mean "
                    f"failed on these {int(use.sum())} genes ({err}); a local regression "
                    "trend was substituted, as DESeq2 does. Pass fit_type='local' or "
                    "'mean' to choose the trend explicitly.", UserWarning, stacklevel=2)
                fit_type = "local"
        if fit_type == "local":
            self.local_trend_ = _deseq.local_trend(base_mean[use], disp[use])
            self.local_vst_ = fit_local_vst(genes / sf, sf, self.local_trend_)
        elif fit_type == "mean":
            self.mean_disp_ = _deseq.mean_trend(disp[nonzero])
        self.fit_type_ = fit_type
        return self

    def transform(self, X):
        """log2-scale variance-stabilised counts (subjects x genes)."""
        check_is_fitted(self, "fit_type_")
        counts = _counts_matrix(X, "VST")
        q = counts / self.size_factor_model_.size_factors(X)[:, None]
        if self.fit_type_ == "parametric":
            a0, a1 = self.asympt_disp_, self.extra_pois_
            out = np.log((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q)))
                         / (4 * a0)) / np.log(2)
        elif self.fit_type_ == "local":
            out = self.local_vst_(q)
        else:
            alpha = self.mean_disp_
            out = (2 * np.arcsinh(np.sqrt(alpha * q)) - np.log(alpha) - np.log(4)) / np.log(2)
        return _like(X, out)
