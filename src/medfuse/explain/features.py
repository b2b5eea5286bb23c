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
#: Cells (rows x raw features) of the subjects one model evaluation rebuilds at a time, so
#: that the memory of explaining a wide model stays bounded (about 256 MB of float64).
EVAL_CELLS = 2**25
#: Most cells of the masked matrix shap builds for one ordering of the attributed features,
#: ``(2 k + 1) * n_background`` rows of ``k`` columns (about 2 GB of float64): beyond it,
#: permutation SHAP cannot run in memory, and the error says to attribute fewer features.
MAX_MASKED_CELLS = 2**28


class _Codec:
    """Encode the model's modalities of a set of subjects as one float matrix and back.

    Tabular columns become float columns (categorical ones: integer codes, NaN for missing);
    an array modality becomes one column holding a row index into a stored array. Numeric
    columns are read and written as one array per modality, so a call costs O(features)
    array work and Python work only per categorical column.
    """

    def __init__(self, model, parts: list[MultiModalData]) -> None:
        self.model = model
        self.modalities = list(model.modalities_)
        self.specs = parts[0].modalities
        self.columns: list[tuple[str, str]] = []
        self.categories: dict[tuple[str, str], pd.CategoricalDtype] = {}
        self.arrays: dict[str, np.ndarray] = {}
        #: array modality -> its one codec position
        self.array_position: dict[str, int] = {}
        #: modality -> (codec positions, column names) of its tabular columns, in order
        self.tabular: dict[str, tuple[np.ndarray, list]] = {}
        #: modality -> [(codec position, column name)] of its categorical columns
        self.categorical: dict[str, list[tuple[int, str]]] = {}
        first = parts[0]
        for m in self.modalities:
            names = model.feature_names_[m]
            if names is None:
                self.array_position[m] = len(self.columns)
                self.columns.append((m, f"({m})"))
                self.arrays[m] = np.concatenate([p.block(m, available_only=False)
                                                 for p in parts])
                continue
            names = list(names)
            start = len(self.columns)
            self.tabular[m] = (np.arange(start, start + len(names)), names)
            self.categorical[m] = []
            dtypes = first.block(m, available_only=False).dtypes
            for j, c in enumerate(names):
                dtype = dtypes[c]
                if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(
                        dtype):
                    continue
                s = first.block(m, available_only=False)[c]
                values = pd.concat([p.block(m, available_only=False)[c].astype(object)
                                    for p in parts])
                ordered = isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered
                cats = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                        else [])
                cats += [v for v in pd.unique(values.dropna()) if v not in set(cats)]
                self.categories[(m, c)] = pd.CategoricalDtype(cats, ordered=ordered)
                self.categorical[m].append((start + j, c))
            self.columns += [(m, c) for c in names]
        self.modality_of = np.array([m for m, _ in self.columns])
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    def encode(self, part: int, data: MultiModalData) -> np.ndarray:
        out = np.empty((len(data), len(self.columns)))
        for m in self.modalities:
            if m in self.arrays:
                out[:, self.array_position[m]] = self._offsets[part] + np.arange(len(data))
                continue
            positions, names = self.tabular[m]
            frame = data.block(m, available_only=False)
            if self.categorical[m]:
                numeric = np.ones(len(names), dtype=bool)
                numeric[[pos - positions[0] for pos, _ in self.categorical[m]]] = False
                cols = [c for c, keep in zip(names, numeric, strict=True) if keep]
                out[:, positions[numeric]] = frame[cols].to_numpy(dtype=float)
            else:
                same = list(frame.columns) == names
                out[:, positions] = (frame if same else frame[names]).to_numpy(dtype=float)
            for pos, c in self.categorical[m]:
                codes = pd.Categorical(frame[c].astype(object),
                                       dtype=self.categories[(m, c)]).codes
                out[:, pos] = np.where(codes < 0, np.nan, codes)
        return out

    def decode(self, Z: np.ndarray, template: MultiModalData) -> MultiModalData:
        """MultiModalData of ``len(Z)`` rows, with ``template``'s (one subject) availability,
        obs and specs."""
        n = len(Z)
        ids = pd.Index([f"_row{i}" for i in range(n)], name="subject")
        blocks = {}
        for m in self.modalities:
            if m in self.arrays:
                blocks[m] = self.arrays[m][Z[:, self.array_position[m]].astype(int)]
                continue
            positions, names = self.tabular[m]
            frame = pd.DataFrame(Z[:, positions], index=ids, columns=names)
            for pos, c in self.categorical[m]:
                codes = np.where(np.isnan(Z[:, pos]), -1, Z[:, pos]).astype(int)
                frame[c] = pd.Categorical.from_codes(codes, dtype=self.categories[(m, c)])
            blocks[m] = frame
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
    subject_cols = [np.flatnonzero(chosen & np.isin(codec.modality_of, [
        m for j, m in enumerate(mods) if avail[i, j]])) for i in range(n)]
    widest = max((len(c) for c in subject_cols), default=0)
    cells = (2 * widest + 1) * len(bg) * widest
    if cells > MAX_MASKED_CELLS:
        raise ValueError(
            f"Permutation SHAP over {widest} raw features would build a "
            f"{(2 * widest + 1) * len(bg):,} x {widest:,} matrix of masked inputs per "
            f"ordering ({cells * 8 / 2**30:.0f} GiB) and cost {2 * widest + 1:,} x "
            f"{len(bg)} model evaluations per subject: attribute a subset with features= "
            "(e.g. the strategy's top-weighted features per modality), or fewer background "
            "subjects.")
    values = np.zeros((n, p, k))
    base = np.zeros((n, k))
    seed = 0 if random_state is None else int(random_state)
    for i in range(n):
        one = aligned[[i]]
        cols = subject_cols[i]
        if not len(cols):
            base[i] = model.predict_proba(one)[0]
            continue
        z_i = Z[i].copy()

        def f(sub, cols=cols, z_i=z_i, one=one):
            step = max(1, EVAL_CELLS // max(len(z_i), 1))
            parts = []
            for start in range(0, len(sub), step):
                full = np.tile(z_i, (min(step, len(sub) - start), 1))
                full[:, cols] = sub[start:start + step]
                parts.append(model.predict_proba(codec.decode(full, one)))
            return np.concatenate(parts) if parts else np.empty((0, k))

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
