"""Feature attribution within modalities, aggregated to modality level.

Two routes behind :func:`feature_shap`:

- ``"permutation"`` (any strategy): SHAP values of the *raw* input features (all tabular
  modalities concatenated; clinical categories encoded as integer codes and decoded back; an
  image or series modality is one feature whose value selects a whole array), computed by
  ``shap.PermutationExplainer`` on a function that rebuilds a MultiModalData and calls the
  model's ``predict_proba``. Masked features take the values of background subjects
  (``shap.maskers.Independent``), chosen explicitly by the ``background`` parameters. Each
  subject is explained over the features of the modalities it has, with its own availability
  and obs row; features of modalities it lacks get exactly 0.
- ``"gradient"`` (neural strategies exposing ``module_`` and ``_torch_inputs``): integrated
  gradients or gradient x input (captum) of the class probability with respect to the
  preprocessed inputs the network sees, baseline zero (the training mean after the
  strategy's standardisation); array modalities are summed to one value per modality.

Both give per-subject values in probability units, whose per-modality sums
(:meth:`FeatureAttribution.modality_sums`) are comparable to modality Shapley values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medfuse.data.multimodal import DataValidationError, MultiModalData


@dataclass
class FeatureAttribution:
    """Per-subject feature attributions for a fitted model's class probabilities.

    Parameters
    ----------
    values : ndarray of shape (n_subjects, n_features, n_classes)
        Attribution of each feature to each class probability (probability units).
    base_values : ndarray of shape (n_subjects, n_classes)
        Prediction at the reference (mean over background subjects for SHAP; at the zero
        baseline for integrated gradients).
    features : MultiIndex
        ``(modality, feature)`` of each attributed feature.
    subjects : Index
        The explained subjects' IDs.
    classes : ndarray of shape (n_classes,)
        The model's classes.
    method : str
        ``"permutation"``, ``"integrated_gradients"`` or ``"gradient_x_input"``.
    background : Index or None
        IDs of the background subjects whose values stood in for masked features
        (permutation SHAP); None for the gradient methods (baseline zero).
    """

    values: np.ndarray
    base_values: np.ndarray
    features: pd.MultiIndex
    subjects: pd.Index
    classes: np.ndarray
    method: str
    background: pd.Index | None = None

    def _k(self, class_) -> int:
        if class_ is None:
            if len(self.classes) != 2:
                raise ValueError(f"Name a class: one of {list(self.classes)}.")
            return 1
        return int(np.flatnonzero(self.classes == class_)[0])

    def frame(self, class_=None) -> pd.DataFrame:
        """Subjects x (modality, feature) values for one class (binary default: second)."""
        return pd.DataFrame(self.values[:, :, self._k(class_)], index=self.subjects,
                            columns=self.features)

    def modality_sums(self, class_=None) -> pd.DataFrame:
        """Subjects x modalities: the sum of each modality's feature attributions."""
        return self.frame(class_).T.groupby(level="modality", sort=False).sum().T

    def mean_abs(self, class_=None) -> pd.Series:
        """Mean absolute value per (modality, feature), largest first."""
        return self.frame(class_).abs().mean().sort_values(ascending=False)

    def top_features(self, n: int = 10, class_=None) -> pd.DataFrame:
        """The ``n`` features of largest mean absolute value within each modality.

        Features are ranked against the other features of their own modality only.

        Returns
        -------
        DataFrame
            ``modality, rank, feature, mean_abs``: modalities in the order of ``features``,
            then ``rank`` 1 (largest mean absolute value of its modality) to at most ``n``.
        """
        imp = (self.frame(class_).abs().mean().rename("mean_abs").reset_index()
               .sort_values("mean_abs", ascending=False, kind="stable"))
        imp["rank"] = imp.groupby("modality", sort=False).cumcount() + 1
        order = {m: i for i, m in enumerate(dict.fromkeys(
            self.features.get_level_values("modality")))}
        imp = imp[imp["rank"] <= n]
        imp = imp.iloc[np.lexsort((imp["rank"].to_numpy(),
                                   imp["modality"].map(order).to_numpy()))]
        return imp[["modality", "rank", "feature", "mean_abs"]].reset_index(drop=True)


def feature_shap(model, data: MultiModalData, *, method: str = "auto",
                 background: MultiModalData | None = None, n_background: int = 30,
                 n_permutations: int = 2, n_steps: int = 50, features=None,
                 random_state: int | None = 0) -> FeatureAttribution:
    """Attribute each subject's predicted probabilities to the features of each modality.

    Parameters
    ----------
    model : FusionClassifier
        A fitted strategy.
    data : MultiModalData
        Subjects to explain.
    method : {"auto", "permutation", "integrated_gradients", "gradient_x_input"}
        ``auto``: integrated gradients for neural strategies (``module_`` and
        ``_torch_inputs``), permutation SHAP otherwise.
    background : MultiModalData, optional
        Reference subjects for permutation SHAP, typically the training data (default: the
        explained ``data``). Only subjects with every model modality are used (a masked value
        must exist); ``n_background`` of them are drawn at random (seeded).
    n_background : int
        Background subjects; each model evaluation costs ``n_background`` predictions.
    n_permutations : int
        Antithetic feature orderings per subject for permutation SHAP; the cost per subject is
        ``n_permutations * (2 p + 1) * n_background`` predictions for its ``p`` features.
    n_steps : int
        Integration steps of integrated gradients.
    features : dict modality -> list of columns, optional
        Permutation SHAP only: attribute just these raw features (e.g. a short list of
        candidate genes when a modality has thousands); the others keep each subject's own
        values and get 0. Default: every feature.
    random_state : int, optional
        Seed of the background draw and the orderings.

    Returns
    -------
    FeatureAttribution
    """
    neural = hasattr(model, "module_") and hasattr(model, "_torch_inputs")
    if method == "auto":
        method = "integrated_gradients" if neural else "permutation"
    if method == "permutation":
        return _permutation_shap(model, data, background, n_background, n_permutations,
                                 features, random_state)
    if method in ("integrated_gradients", "gradient_x_input"):
        if not neural:
            raise ValueError(f"{type(model).__name__} is not a neural strategy (no module_ / "
                             "_torch_inputs); use method='permutation'.")
        return _gradient(model, data, method, n_steps)
    raise ValueError(f"Unknown method {method!r}; use auto, permutation, "
                     "integrated_gradients or gradient_x_input.")


# ---------------------------------------------------------------------- raw feature codec
class _Codec:
    """Encode the model's modalities of a set of subjects as one float matrix and back.

    Tabular columns become float columns (categorical ones: integer codes, NaN for missing);
    an array modality becomes one column holding a row index into a stored array.
    """

    def __init__(self, model, parts: list[MultiModalData]) -> None:
        self.model = model
        self.modalities = list(model.modalities_)
        self.specs = parts[0].modalities
        self.columns: list[tuple[str, str]] = []
        self.categories: dict[tuple[str, str], pd.CategoricalDtype] = {}
        self.arrays: dict[str, np.ndarray] = {}
        first = parts[0]
        for m in self.modalities:
            names = model.feature_names_[m]
            if names is None:
                self.columns.append((m, f"({m})"))
                self.arrays[m] = np.concatenate([p.block(m, available_only=False)
                                                 for p in parts])
                continue
            frame = first.block(m, available_only=False)
            for c in names:
                s = frame[c]
                if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                    values = pd.concat([p.block(m, available_only=False)[c].astype(object)
                                        for p in parts])
                    ordered = isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered
                    cats = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                            else [])
                    cats += [v for v in pd.unique(values.dropna()) if v not in set(cats)]
                    self.categories[(m, c)] = pd.CategoricalDtype(cats, ordered=ordered)
                self.columns.append((m, c))
        self.modality_of = np.array([m for m, _ in self.columns])
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    def encode(self, part: int, data: MultiModalData) -> np.ndarray:
        out = np.empty((len(data), len(self.columns)))
        for j, (m, c) in enumerate(self.columns):
            if m in self.arrays:
                out[:, j] = self._offsets[part] + np.arange(len(data))
                continue
            s = data.block(m, available_only=False)[c]
            if (m, c) in self.categories:
                codes = pd.Categorical(s.astype(object), dtype=self.categories[(m, c)]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = s.to_numpy(dtype=float)
        return out

    def decode(self, Z: np.ndarray, template: MultiModalData) -> MultiModalData:
        """MultiModalData of ``len(Z)`` rows, with ``template``'s (one subject) availability,
        obs and specs."""
        n = len(Z)
        ids = pd.Index([f"_row{i}" for i in range(n)], name="subject")
        blocks = {}
        for m in self.modalities:
            cols = np.flatnonzero(self.modality_of == m)
            if m in self.arrays:
                blocks[m] = self.arrays[m][Z[:, cols[0]].astype(int)]
                continue
            frame = {}
            for j in cols:
                c = self.columns[j][1]
                if (m, c) in self.categories:
                    dtype = self.categories[(m, c)]
                    codes = np.where(np.isnan(Z[:, j]), -1, Z[:, j]).astype(int)
                    frame[c] = pd.Categorical.from_codes(codes, dtype=dtype)
                else:
                    frame[c] = Z[:, j]
            blocks[m] = pd.DataFrame(frame, index=ids)
        avail = np.repeat(template.available.to_numpy(), n, axis=0)
        obs = pd.DataFrame(np.repeat(template.obs.to_numpy(), n, axis=0), index=ids,
                           columns=template.obs.columns).astype(template.obs.dtypes.to_dict())
        return MultiModalData._from_aligned(ids, blocks, avail, self.specs, obs, None, {})


def _permutation_shap(model, data, background, n_background, n_permutations, features,
                      random_state) -> FeatureAttribution:
    import shap

    aligned = model.align(data)
    bg = model.align(background if background is not None else data)
    complete = np.flatnonzero(bg.available.to_numpy().all(axis=1))
    if len(complete) == 0:
        raise DataValidationError(
            f"No background subject has all of the model's modalities {model.modalities_}; "
            "pass background= with complete subjects (e.g. the training data).")
    rng = np.random.default_rng(random_state)
    pick = np.sort(rng.choice(complete, size=min(n_background, len(complete)), replace=False))
    bg = bg[pick]
    codec = _Codec(model, [aligned, bg])
    Z = codec.encode(0, aligned)
    B = codec.encode(1, bg)
    avail = aligned.available.to_numpy()
    mods = codec.modalities
    n, p, k = len(aligned), len(codec.columns), len(model.classes_)
    chosen = _chosen_columns(codec, features)
    values = np.zeros((n, p, k))
    base = np.zeros((n, k))
    seed = 0 if random_state is None else int(random_state)
    for i in range(n):
        one = aligned[[i]]
        cols = np.flatnonzero(chosen & np.isin(codec.modality_of,
                                               [m for j, m in enumerate(mods) if avail[i, j]]))
        if not len(cols):
            base[i] = model.predict_proba(one)[0]
            continue
        z_i = Z[i].copy()

        def f(sub, cols=cols, z_i=z_i, one=one):
            full = np.tile(z_i, (len(sub), 1))
            full[:, cols] = sub
            return model.predict_proba(codec.decode(full, one))

        masker = shap.maskers.Independent(B[:, cols], max_samples=len(B))
        explainer = shap.PermutationExplainer(f, masker, seed=seed + i)
        result = explainer(Z[i:i + 1, cols], max_evals=n_permutations * (2 * len(cols) + 1),
                           silent=True)
        values[i, cols] = np.asarray(result.values)[0].reshape(len(cols), k)
        base[i] = np.asarray(result.base_values).reshape(-1, k)[0]
    index = pd.MultiIndex.from_tuples(codec.columns, names=["modality", "feature"])
    return FeatureAttribution(values=values, base_values=base, features=index,
                              subjects=aligned.subjects, classes=np.asarray(model.classes_),
                              method="permutation", background=bg.subjects)


def _chosen_columns(codec: _Codec, features) -> np.ndarray:
    """Boolean mask over the codec's columns for the ``features`` selection."""
    if features is None:
        return np.ones(len(codec.columns), dtype=bool)
    chosen = np.zeros(len(codec.columns), dtype=bool)
    lookup = {c: j for j, c in enumerate(codec.columns)}
    for m, cols in dict(features).items():
        if m not in codec.modalities:
            raise ValueError(f"features names modality {m!r}; the model's modalities are "
                             f"{codec.modalities}.")
        names = [f"({m})"] if m in codec.arrays else [str(c) for c in cols]
        unknown = [c for c in names if (m, c) not in lookup]
        if unknown:
            raise ValueError(f"features: modality {m!r} has no column(s) {unknown[:5]}.")
        chosen[[lookup[(m, c)] for c in names]] = True
    return chosen


# ---------------------------------------------------------------------- neural route
def _gradient(model, data, method, n_steps) -> FeatureAttribution:
    import torch
    from captum.attr import InputXGradient, IntegratedGradients

    aligned = model.align(data)
    inputs, mask = model._torch_inputs(aligned)
    inputs = tuple(t.detach().float() for t in inputs)
    module = model.module_
    was_training = module.training
    module.eval()

    n_mod = len(inputs)

    def proba(*args):
        xs, m = args[:n_mod], args[n_mod]
        logits = module(list(xs), m)
        if logits.ndim == 1 or logits.shape[1] == 1:
            p1 = torch.sigmoid(logits.reshape(-1))
            return torch.stack([1 - p1, p1], dim=1)
        return torch.softmax(logits, dim=1)

    k = len(model.classes_)
    per_class = []
    try:
        for c in range(k):
            if method == "integrated_gradients":
                attr = IntegratedGradients(proba).attribute(
                    inputs, baselines=tuple(torch.zeros_like(t) for t in inputs), target=c,
                    additional_forward_args=(mask,), n_steps=n_steps)
            else:
                attr = InputXGradient(proba).attribute(inputs, target=c,
                                                       additional_forward_args=(mask,))
            per_class.append([a.detach().cpu().numpy() for a in attr])
        with torch.no_grad():
            base = proba(*(torch.zeros_like(t) for t in inputs), mask).cpu().numpy()
    finally:
        module.train(was_training)
    avail = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask,
                       dtype=bool)
    columns: list[tuple[str, str]] = []
    blocks = []
    for j, m in enumerate(model.modalities_):
        parts = [a[j].reshape(len(aligned), -1) for a in per_class]   # each n x d
        if inputs[j].ndim == 2:
            names = model.feature_names_.get(m)
            d = parts[0].shape[1]
            names = names if names is not None and len(names) == d else [
                f"{m}[{i}]" for i in range(d)]
            columns += [(m, str(c)) for c in names]
            block = np.stack(parts, axis=2)
        else:
            columns.append((m, f"({m})"))
            block = np.stack([q.sum(axis=1, keepdims=True) for q in parts], axis=2)
        blocks.append(block * avail[:, j, None, None])
    index = pd.MultiIndex.from_tuples(columns, names=["modality", "feature"])
    return FeatureAttribution(values=np.concatenate(blocks, axis=1), base_values=base,
                              features=index, subjects=aligned.subjects,
                              classes=np.asarray(model.classes_), method=method)
