"""Survival fusion strategies: penalised Cox models over :class:`~medfuse.data.MultiModalData`.

The contract mirrors :class:`~medfuse.fusion.base.FusionClassifier`: ``fit(data, y)`` where
``y`` is a scikit-survival structured array of ``(event, time)`` (default: the ``event`` and
``time`` columns of ``data.obs``); ``predict(data)`` returns one risk score per subject
(higher = earlier event) from the modalities the subject has; ``score`` is Harrell's C.

The Cox models are elastic-net penalised (scikit-survival's ``CoxnetSurvivalAnalysis``); the
penalty strength is chosen on the training subjects by inner k-fold cross-validation of
Harrell's C over the model's own regularisation path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.data.validation import preview
from medfuse.fusion.base import MultiModalEstimator, check_data, modality_series, record_layout
from medfuse.fusion.blocks import BlockPreprocessing
from medfuse.fusion.registry import register

#: obs columns holding the survival outcome.
TIME, EVENT = "time", "event"


def survival_target(data: MultiModalData, y=None) -> np.ndarray:
    """The survival outcome as a structured array ``[("event", bool), ("time", float)]``
    aligned to ``data``'s subjects.

    ``y`` may be a structured array (by position), a DataFrame with ``event`` and ``time``
    columns (by subject ID when its index holds them), or None (``data.obs``).
    """
    if y is None:
        missing = [c for c in (EVENT, TIME) if c not in data.obs.columns]
        if missing:
            raise DataValidationError(
                f"No survival outcome: data.obs lacks {missing}; pass y=(event, time) as a "
                "structured array or build the data with obs columns 'event' and 'time'.")
        y = data.obs[[EVENT, TIME]]
    if isinstance(y, pd.DataFrame):
        if len(y) == len(data) and y.index.astype(str).isin(data.subjects).all():
            y = y.set_axis(y.index.astype(str)).reindex(data.subjects)
        event, time = y[EVENT].to_numpy(), y[TIME].to_numpy()
    else:
        y = np.asarray(y)
        if y.dtype.names is None or len(y.dtype.names) != 2:
            raise DataValidationError("y must be a structured array of (event, time), e.g. "
                                      "sksurv.util.Surv.from_arrays(event, time).")
        event, time = y[y.dtype.names[0]], y[y.dtype.names[1]]
    if len(event) != len(data):
        raise DataValidationError(f"y has {len(event)} rows; the data has {len(data)} "
                                  "subjects.")
    bad = pd.isna(event) | pd.isna(time)
    time = np.asarray(time, dtype=float)
    bad = bad | (~bad & (time < 0))
    if bad.any():
        raise DataValidationError(
            f"The survival outcome is missing or negative for {int(bad.sum())} subject(s): "
            f"{preview(data.subjects[np.asarray(bad)])}.")
    out = np.empty(len(time), dtype=[(EVENT, bool), (TIME, float)])
    out[EVENT] = np.asarray(event).astype(bool)
    out[TIME] = time
    return out


def harrell_c(y: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C of ``risk`` for a structured survival array ``y``; NaN without any
    comparable pair.

    Pairs ``(i, j)`` with ``time_i < time_j`` and an event at ``time_i`` are comparable;
    concordant when ``risk_i > risk_j``, half when tied. This is scikit-survival's
    ``concordance_index_censored`` for distinct times, without its input validation (it is
    called once per penalty and inner fold); pairs with tied times are left out.
    """
    t = np.asarray(y[TIME], dtype=float)
    e = np.asarray(y[EVENT], dtype=bool)
    r = np.asarray(risk, dtype=float)
    comparable = (t[:, None] < t[None, :]) & e[:, None]
    n = comparable.sum()
    if n == 0:
        return float("nan")
    diff = r[:, None] - r[None, :]
    score = (diff > 0) + 0.5 * (diff == 0)
    return float(score[comparable].sum() / n)


class FusionSurvival(MultiModalEstimator):
    """Base class of the survival strategies (see the module docstring for the contract).

    Subclasses implement ``_fit(data, y)`` (``data`` holds exactly the training modalities,
    ``y`` the structured outcome) and ``_predict(data)`` (aligned data -> risk (n,)).

    Attributes
    ----------
    modalities_ : list of str, the training modalities in order.
    modality_kinds_ : dict modality -> kind.
    feature_names_ : dict modality -> list of column names (None for array modalities).
    """

    _estimator_type = "survival"

    def fit(self, data: MultiModalData, y=None):
        """Fit on training subjects; ``y`` defaults to ``data.obs[["event", "time"]]``."""
        data = check_data(data)
        y = survival_target(data, y)
        if not y[EVENT].any():
            raise DataValidationError("No event among these training subjects; a survival "
                                      "model needs at least one.")
        record_layout(self, data)
        self._fit(data, y)
        return self

    def predict(self, data: MultiModalData) -> np.ndarray:
        """Risk score per subject (n_subjects,), higher = earlier event."""
        check_is_fitted(self, "modalities_")
        return self._predict(self.align(data))

    def score(self, data: MultiModalData, y=None) -> float:
        """Harrell's concordance index of the predicted risk."""
        return harrell_c(survival_target(check_data(data), y), self.predict(data))

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def _predict(self, data: MultiModalData) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------- penalised Cox
class PenalizedCox(BaseEstimator):
    """Elastic-net Cox model on a matrix whose penalty is chosen by inner CV on Harrell's C.

    Parameters
    ----------
    l1_ratio : float in (0, 1], elastic-net mixing (small = close to ridge).
    n_alphas : int, length of the regularisation path.
    alpha_min_ratio : float, smallest / largest penalty of the path.
    cv : int, inner folds (stratified on the event indicator).
    random_state : int or None, seed of the inner folds.

    Attributes
    ----------
    alpha_ : the chosen penalty; cv_scores_ : mean inner C per path penalty;
    coef_, intercept_ : the linear predictor of the Coxnet fitted on all rows at ``alpha_``
    (on standardised columns); mean_, scale_ : column standardisation.
    """

    def __init__(self, l1_ratio: float = 0.1, n_alphas: int = 15,
                 alpha_min_ratio: float = 0.05, cv: int = 3, random_state=None) -> None:
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.cv = cv
        self.random_state = random_state

    def _coxnet(self, alphas=None):
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        return CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_alphas,
                                      alpha_min_ratio=self.alpha_min_ratio, alphas=alphas,
                                      max_iter=10000)

    def fit(self, X: np.ndarray, y: np.ndarray):
        X = np.asarray(X, dtype=float)
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 1e-12, sd, 1.0)
        Z = (X - self.mean_) / self.scale_
        path = self._coxnet().fit(Z, y)
        alphas = np.asarray(path.alphas_)
        n_events = int(y[EVENT].sum())
        k = int(min(self.cv, n_events, len(y) - n_events)) if n_events < len(y) else min(
            self.cv, n_events)
        scores = np.full((max(k, 1), len(alphas)), np.nan)
        if k >= 2:
            folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state)
            for f, (tr, te) in enumerate(folds.split(Z, y[EVENT])):
                if not y[EVENT][tr].any():
                    continue
                try:
                    m = self._coxnet(alphas).fit(Z[tr], y[tr])
                except (ValueError, ArithmeticError):
                    continue
                for a, alpha in enumerate(m.alphas_):
                    scores[f, a] = harrell_c(y[te], m.predict(Z[te], alpha=alpha))
        with np.errstate(all="ignore"):
            mean = np.nanmean(scores, axis=0) if np.isfinite(scores).any() else np.zeros(
                len(alphas))
        self.cv_scores_ = np.nan_to_num(mean, nan=-np.inf)
        # ties: the strongest penalty (the path runs from large to small alpha)
        best = int(np.argmax(self.cv_scores_))
        self.alpha_ = float(alphas[best])
        # keep only the linear predictor at the chosen penalty (plain arrays persist safely)
        self.coef_ = np.asarray(path.coef_, dtype=float)[:, best].copy()
        self.intercept_ = float(path.predict(np.zeros((1, Z.shape[1])), alpha=self.alpha_)[0])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Linear predictor (log relative hazard) of each row of ``X``."""
        Z = (np.asarray(X, dtype=float) - self.mean_) / self.scale_
        return Z @ self.coef_ + self.intercept_


def _cox(self_) -> PenalizedCox:
    return PenalizedCox(l1_ratio=self_.l1_ratio, cv=self_.cv, random_state=self_.random_state)


# ---------------------------------------------------------------------- strategies
@register("cox-early", family="survival", interpretable=True,
          needs=("features",))
class CoxEarly(BlockPreprocessing, FusionSurvival):
    """Early fusion Cox: preprocessed blocks concatenated, penalised Cox on the result.

    A subject's missing block is imputed with the training mean of each column, and one
    availability indicator per modality that is missing for some training subjects is added,
    so every subject with at least one modality gets a risk.

    Parameters
    ----------
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing (see :func:`medfuse.preprocess.resolve_preprocessor`).
    l1_ratio : float
        Elastic-net mixing of the Cox penalty, in (0, 1] (small = close to ridge).
    cv : int
        Inner folds choosing the penalty (Harrell's C).
    random_state : int, optional
        Seed of the inner folds.
    """

    def __init__(self, preprocessors=None, l1_ratio: float = 0.1, cv: int = 3,
                 random_state=None) -> None:
        self.preprocessors = preprocessors
        self.l1_ratio = l1_ratio
        self.cv = cv
        self.random_state = random_state

    def _design(self, blocks: dict[str, np.ndarray], avail: np.ndarray) -> np.ndarray:
        cols = []
        for m in self.modalities_:
            z = blocks[m]
            cols.append(np.where(np.isnan(z), self.col_means_[m], z))
        if self.indicators_:
            idx = [self.modalities_.index(m) for m in self.indicators_]
            cols.append(avail[:, idx].astype(float))
        return np.hstack(cols)

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        blocks = self._fit_blocks(data)
        avail = data.available.to_numpy()
        self.col_means_ = {m: np.nan_to_num(np.nanmean(blocks[m], axis=0)) for m in blocks}
        self.indicators_ = [m for j, m in enumerate(self.modalities_) if not avail[:, j].all()]
        self.model_ = _cox(self).fit(self._design(blocks, avail), y)
        beta = np.abs(self.model_.coef_ / self.model_.scale_)
        sizes = [self.n_block_features_[m] for m in self.modalities_]
        edges = np.cumsum([0, *sizes])
        self.weights_ = np.array([beta[edges[j]:edges[j + 1]].sum()
                                  for j in range(len(sizes))])

    @property
    def modality_weights_(self) -> pd.Series:
        """Sum of absolute Cox coefficients (per unit of the preprocessed features) per
        modality."""
        check_is_fitted(self, "weights_")
        return modality_series(self.weights_, self.modalities_)

    def _predict(self, data: MultiModalData) -> np.ndarray:
        blocks = self._transform_blocks(data)
        return self.model_.predict(self._design(blocks, data.available.to_numpy()))


@register("cox-late", family="survival",
          needs=("features",))
class CoxLate(BlockPreprocessing, FusionSurvival):
    """Late fusion Cox: one penalised Cox per modality, risks averaged over those a subject has.

    Each modality's risk is standardised with its training mean and SD, and a subject's
    risk is the mean over the modalities it has.

    Parameters
    ----------
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing (see :func:`medfuse.preprocess.resolve_preprocessor`).
    l1_ratio : float
        Elastic-net mixing of the Cox penalty, in (0, 1] (small = close to ridge).
    cv : int
        Inner folds choosing the penalty (Harrell's C).
    random_state : int, optional
        Seed of the inner folds.
    """

    def __init__(self, preprocessors=None, l1_ratio: float = 0.1, cv: int = 3,
                 random_state=None) -> None:
        self.preprocessors = preprocessors
        self.l1_ratio = l1_ratio
        self.cv = cv
        self.random_state = random_state

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        blocks = self._fit_blocks(data)
        avail = data.available
        self.models_, self.risk_mean_, self.risk_sd_, c = {}, {}, {}, []
        for m in self.modalities_:
            rows = avail[m].to_numpy()
            if not y[EVENT][rows].any():
                raise DataValidationError(f"Modality {m!r}: no event among the training "
                                          "subjects that have it.")
            model = _cox(self).fit(blocks[m][rows], y[rows])
            r = model.predict(blocks[m][rows])
            sd = float(r.std())
            self.models_[m] = model
            self.risk_mean_[m] = float(r.mean())
            self.risk_sd_[m] = sd if sd > 1e-12 else 1.0
            c.append(float(np.max(model.cv_scores_)))
        self.inner_c_ = np.array(c)

    @property
    def modality_weights_(self) -> pd.Series:
        """Inner-CV Harrell's C of each modality's Cox model."""
        check_is_fitted(self, "inner_c_")
        return modality_series(self.inner_c_, self.modalities_)

    def _predict(self, data: MultiModalData) -> np.ndarray:
        blocks = self._transform_blocks(data)
        avail = data.available
        total, count = np.zeros(len(data)), np.zeros(len(data))
        for m, model in self.models_.items():
            rows = avail[m].to_numpy()
            if rows.any():
                r = model.predict(blocks[m][rows])
                total[rows] += (r - self.risk_mean_[m]) / self.risk_sd_[m]
                count[rows] += 1
        return total / count


@register("unimodal-cox", family="survival", per_modality=True, interpretable=True,
          needs=("features",))
class UnimodalCox(BlockPreprocessing, FusionSurvival):
    """Penalised Cox on one modality (the baseline fusion must beat).

    Subjects without the modality get the training mean risk (they carry no information
    for this model). Build by name: ``make("unimodal-cox:rna")``.

    Parameters
    ----------
    modality : str
        The modality used (registered name ``unimodal-cox:<modality>``).
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing (see :func:`medfuse.preprocess.resolve_preprocessor`).
    l1_ratio : float
        Elastic-net mixing of the Cox penalty, in (0, 1] (small = close to ridge).
    cv : int
        Inner folds choosing the penalty (Harrell's C).
    random_state : int, optional
        Seed of the inner folds.
    """

    def __init__(self, modality: str | None = None, preprocessors=None,
                 l1_ratio: float = 0.1, cv: int = 3, random_state=None) -> None:
        self.modality = modality
        self.preprocessors = preprocessors
        self.l1_ratio = l1_ratio
        self.cv = cv
        self.random_state = random_state

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        if self.modality not in data.modality_names:
            raise DataValidationError(f"unimodal-cox: modality {self.modality!r} is not in "
                                      f"the data ({', '.join(data.modality_names)}).")
        blocks = self._fit_blocks(data, [self.modality])
        rows = data.available[self.modality].to_numpy()
        if not y[EVENT][rows].any():
            raise DataValidationError(f"Modality {self.modality!r}: no event among the "
                                      "training subjects that have it.")
        self.model_ = _cox(self).fit(blocks[self.modality][rows], y[rows])
        self.mean_risk_ = float(self.model_.predict(blocks[self.modality][rows]).mean())

    def _predict(self, data: MultiModalData) -> np.ndarray:
        rows = data.available[self.modality].to_numpy()
        out = np.full(len(data), self.mean_risk_)
        if rows.any():
            z = self._transform_blocks(data)[self.modality]
            out[rows] = self.model_.predict(z[rows])
        return out
