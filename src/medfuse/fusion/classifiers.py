"""The default classifier of the classical strategies and the helpers around it: a
regularised logistic regression whose strength is chosen by inner CV (solved in the span of
its rows when there are many more features than rows), user estimators cloned per modality,
and probabilities spread over all classes."""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

from medfuse.fusion._class_weight import sklearn_class_weight
from medfuse.fusion.inner_cv import inner_folds
from medfuse.fusion.learners import is_tree, learner_for, tree_estimator

#: Inverse regularisation strengths searched by the default logistic regression.
DEFAULT_CS = tuple(np.logspace(-4, 2, 13))
#: Inverse regularisation strength of the default logistic regression when a class is too
#: small for inner CV (scikit-learn's default).
FIXED_C = 1.0
#: The default logistic regression is solved in the span of its rows from this many features
#: per row (below, the saving would not pay for the Gram matrix).
ROW_SPACE_RATIO = 2
#: Eigenvalues of ``X X'`` below this share of the largest are treated as 0 (directions that
#: change no prediction by more than rounding).
_RANK_RTOL = 1e-12


class RowSpaceLogisticRegressionCV(LogisticRegressionCV):
    """scikit-learn's ``LogisticRegressionCV`` (L2 penalty), solved in the span of the
    training rows when there are at least :data:`ROW_SPACE_RATIO` times as many features as
    rows; the parameters, the fitted attributes and their meaning are scikit-learn's.

    The gradient of an L2-penalised logistic loss is ``X' r + w / C``, so its minimiser
    ``w`` lies in the span of the rows it is fitted on, and that of every inner-CV fold in
    the span of its own rows, a subset. With ``X X' = U diag(lam) U'`` (the ``r`` positive
    eigenvalues), ``Z = U diag(sqrt(lam))`` (n, r) has the same Gram matrix, and
    ``B = diag(1 / sqrt(lam)) U' X`` (r, p) has orthonormal rows spanning the rows of ``X``:
    ``w = B' b`` gives ``X w = Z b`` and ``||w|| = ||b||``. Fitting on ``Z`` is therefore the
    same problem for every fold, every ``C`` and the intercept, in ``r <= n`` coordinates
    instead of ``p``: one Gram matrix, ``O(n^2 p)``, then iterations that cost ``O(n r)``
    instead of ``O(n p)``. ``coef_`` and ``coefs_paths_`` are mapped back to the features
    (``b B``), so prediction and every attribute are those of a fit on ``X``.

    L-BFGS takes the same steps in both coordinates (equal to rounding for a fixed number of
    iterations); only its stopping rule, the largest gradient entry below ``tol``, is not
    invariant: the gradient spread over ``p`` entries passes it sooner, so at the default
    ``tol`` a fit on ``X`` stops earlier, and the fit on ``Z`` is the closer of the two to
    the exact optimum.
    """

    def fit(self, X, y, sample_weight=None, **params):
        """Fit as ``LogisticRegressionCV.fit``; a dense ``ndarray`` with at least
        :data:`ROW_SPACE_RATIO` times as many columns as rows is fitted in its rows' span.

        Parameters
        ----------
        X : ndarray (n_samples, n_features)
        y : ndarray (n_samples,)
        sample_weight : ndarray (n_samples,), optional
        **params : passed to ``LogisticRegressionCV.fit``.

        Returns
        -------
        self
        """
        if not (isinstance(X, np.ndarray) and X.ndim == 2
                and X.shape[1] >= ROW_SPACE_RATIO * max(X.shape[0], 1)):
            return super().fit(X, y, sample_weight=sample_weight, **params)
        X = np.asarray(X, dtype=float)
        lam, U = np.linalg.eigh(X @ X.T)
        live = lam > _RANK_RTOL * max(float(lam[-1]), 0.0)
        if not live.any():
            return super().fit(X, y, sample_weight=sample_weight, **params)
        root = np.sqrt(lam[live])
        U = U[:, live]
        super().fit(U * root, y, sample_weight=sample_weight, **params)
        back = (U / root).T          # b B = (b back) X
        r = len(root)
        self.coef_ = (self.coef_ @ back) @ X
        paths = np.asarray(self.coefs_paths_)
        mapped = (paths[..., :r] @ back) @ X
        self.coefs_paths_ = np.concatenate([mapped, paths[..., r:]], axis=-1)
        self.n_features_in_ = X.shape[1]
        return self


def neg_log_loss(estimator, X, y) -> float:
    """Mean log-likelihood of the true classes (sklearn's ``neg_log_loss`` without its
    input validation, which dominates the cost of the inner CV on small data)."""
    z = X @ np.atleast_2d(estimator.coef_).T + np.atleast_1d(estimator.intercept_)
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(z)), z[:, 0]])
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    idx = np.searchsorted(estimator.classes_, y)
    return float(np.mean(np.maximum(logp[np.arange(len(y)), idx], np.log(1e-15))))


def default_classifier(random_state=None, cv: int = 5, weights: np.ndarray | None = None,
                       y: np.ndarray | None = None):
    """L2-penalised logistic regression (L-BFGS) whose strength is chosen by inner
    cross-validation (log loss) over :data:`DEFAULT_CS` on the data it is fitted on
    (a :class:`RowSpaceLogisticRegressionCV`: wide blocks are solved in the span of their
    rows, so the cost grows linearly in the number of features).

    Parameters
    ----------
    random_state : int, optional
        Seed of the inner CV splits.
    cv : int
        Inner folds; with ``y``, no more than its smallest class has members. A class with
        a single member leaves no inner CV: a ``LogisticRegression`` with ``C=``
        :data:`FIXED_C` is returned, with a
        :class:`~medfuse.fusion.inner_cv.SmallClassWarning`.
    weights : ndarray (K,), optional
        Per-class weights from :func:`~medfuse.fusion._class_weight.class_weights`.
    y : ndarray, optional
        The class indices it will be fitted on (weights of absent classes are dropped).
    """
    class_weight = sklearn_class_weight(weights, y)
    if y is None:
        folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    else:
        folds = inner_folds(y, cv, random_state, fixed=f"logistic regression with C={FIXED_C}")
        if folds is None:
            return LogisticRegression(C=FIXED_C, max_iter=2000, random_state=random_state,
                                      class_weight=class_weight)
    params = dict(Cs=list(DEFAULT_CS), cv=folds, scoring=neg_log_loss, max_iter=2000,
                  random_state=random_state, solver="lbfgs", class_weight=class_weight)
    accepted = inspect.signature(LogisticRegressionCV.__init__).parameters
    if "l1_ratios" in accepted:
        params["l1_ratios"] = (0.0,)
    if "use_legacy_attributes" in accepted:
        params["use_legacy_attributes"] = False
    return RowSpaceLogisticRegressionCV(**params)


def best_cv_score(search) -> float:
    """Mean inner-CV score at the best regularisation of a fitted ``LogisticRegressionCV``
    (legacy or new attribute layout); NaN for a model fitted without inner CV."""
    if not hasattr(search, "scores_"):
        return float("nan")
    scores = search.scores_
    if isinstance(scores, dict):
        scores = next(iter(scores.values()))
    scores = np.asarray(scores, dtype=float)
    return float(scores.mean(axis=0).max())


def chosen_C(model) -> float:
    """The inverse regularisation strength a fitted default classifier uses: the one inner CV
    chose, or the fixed one where there was no inner CV."""
    return float(np.ravel(model.C_)[0]) if hasattr(model, "C_") else float(model.C)


def resolve_estimator(estimator, modality: str | None, random_state,
                      weights: np.ndarray | None = None, y: np.ndarray | None = None,
                      learner="logistic") -> object:
    """An unfitted clone of the base estimator.

    Parameters
    ----------
    estimator : None, estimator or dict modality -> estimator
        None (and modalities a dict leaves out) give the ``learner``'s estimator with
        ``weights`` restricted to the classes of ``y`` (:func:`default_classifier` for
        ``"logistic"``); an estimator of the user's keeps its own class weighting and gets
        ``random_state`` if it has one unset.
    modality : str, optional
        The modality it is for (to look up a dict).
    random_state : int, optional
    weights : ndarray (K,), optional
    y : ndarray, optional
        The class indices it will be fitted on.
    learner : str or dict modality -> str
        A name of :data:`~medfuse.fusion.learners.LEARNERS`.
    """
    if isinstance(estimator, dict):
        estimator = estimator.get(modality)
    if estimator is None:
        name = learner_for(learner, modality)
        if is_tree(name):
            return tree_estimator(name, random_state, weights, y)
        return default_classifier(random_state, weights=weights, y=y)
    est = clone(estimator)
    if random_state is not None and "random_state" in est.get_params(deep=False):
        if est.get_params(deep=False)["random_state"] is None:
            est.set_params(random_state=random_state)
    return est


def predict_full(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all ``n_classes`` columns (a model fitted on a subset
    of the classes leaves the others at 0)."""
    proba = model.predict_proba(X)
    classes = np.asarray(model.classes_, dtype=int)
    out = np.zeros((len(X), n_classes))
    out[:, classes] = proba
    return out


def class_prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Training class frequencies (n_classes,)."""
    return np.bincount(y, minlength=n_classes) / len(y)
