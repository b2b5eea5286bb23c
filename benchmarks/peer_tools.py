"""The contenders of ``peers.py``, one builder per tool.

Each builder returns the contenders it can run here and the lines to print about what it
cannot (a peer that is not installed, a model that does not apply, ...). Peers are imported
inside the builders, so this module imports with medfuse and scikit-learn only.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from peer_data import Contender, PeerDataset, Split, scaled_views
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: Share of the training subjects that fusilli's own early stopping watches.
FUSILLI_VALIDATION = 0.2
#: Epoch cap of fusilli in ``--quick`` runs (its default is 1000, with early stopping).
FUSILLI_QUICK_EPOCHS = 20
#: AutoGluon's preset (no stacking or bagging: one holdout split of the training subjects).
AUTOGLUON_PRESET = "medium_quality"
#: AutoGluon's time limit per fit, in seconds (``--autogluon-seconds`` in peers.py).
AUTOGLUON_SECONDS = 120.0
#: The same in ``--quick`` runs.
AUTOGLUON_QUICK_SECONDS = 30.0
#: AutoGluon model types left out: its fastai network (fastai is not in the bench extra;
#: AutoGluon's own torch network still runs).
AUTOGLUON_EXCLUDED = ("FASTAI",)


def contenders(tool: str, datasets, *, quick: bool = False, select_folds: int = 5,
               select_repeats: int = 3,
               autogluon_seconds: float | None = None
               ) -> tuple[list[Contender], list[str]]:
    """The contenders of ``tool`` for ``datasets`` and the notes to print."""
    builders = {"medfuse": medfuse_strategies, "selected": medfuse_selected,
                "sklearn": sklearn_baselines, "mvlearn": mvlearn_models,
                "fusilli": fusilli_models, "mixomics": mixomics_diablo,
                "autogluon": autogluon_models}
    if tool not in builders:
        raise SystemExit(f"unknown tool {tool!r}; choose from {', '.join(builders)}")
    return builders[tool](datasets, quick=quick, select_folds=select_folds,
                          select_repeats=select_repeats,
                          autogluon_seconds=autogluon_seconds)


def reorder(proba: np.ndarray, model_classes, classes: np.ndarray) -> np.ndarray:
    """Probability columns in the order of ``classes`` (the dataset's labels)."""
    where = {c: i for i, c in enumerate(np.asarray(model_classes).tolist())}
    return np.asarray(proba, float)[:, [where[c] for c in classes.tolist()]]


# --------------------------------------------------------------------------- medfuse
def _fit_strategy(name: str, ds: PeerDataset, split: Split, seed: int) -> np.ndarray:
    from medfuse.fusion import make

    model = make(name, random_state=seed).fit(ds.data[split.train])
    return reorder(model.predict_proba(ds.data[split.test]), model.classes_, ds.classes)


def medfuse_strategies(datasets, **_) -> tuple[list[Contender], list[str]]:
    """Every registered strategy that accepts the dataset's modalities, with its defaults."""
    from medfuse.fusion import strategy_names

    where: dict[str, list[str]] = {}
    for ds in datasets:
        for name in strategy_names(ds.data.modality_names):
            if name != "ensemble":     # measured as what is handed over ("selected")
                where.setdefault(name, []).append(ds.name)
    return [Contender("medfuse", n, functools.partial(_fit_strategy, n), tuple(d))
            for n, d in where.items()], []


#: Where the handed-over contenders share their benchmark fits (set by ``peers.py`` before
#: the contenders are built, which hand it to their fits: the fits may run in worker
#: processes), so that the three rules of one split cost one benchmark.
SELECTION_CACHE: Path | None = None
#: The rules of ``select:`` measured, and their contender names.
RULES = {"ensemble": "handed over (select: ensemble)",
         "best": "handed over (select: best)",
         "rank": "top of the CV ranking"}


def _fit_handed_over(rule: str, folds: int, repeats: int, cache_root: Path | None,
                     ds: PeerDataset, split: Split, seed: int):
    """What ``medfuse benchmark`` hands over under ``rule`` when its study is the training
    subjects: every strategy benchmarked by ``folds``-fold CV repeated ``repeats`` times
    (a study's default is 5 x 3; the fits cached and shared
    between rules), then the handed-over model refitted on all of them. The note has the
    choice, the benchmark's wall time and the extra time of the rule."""
    import time

    from medfuse.evaluate.ensemble import handed_over
    from medfuse.evaluate.runner import refit_best, resolve_strategies, run_benchmark
    from medfuse.study.handover import ensemble_estimator

    train = ds.data[split.train]
    estimators = resolve_strategies(train, "all")
    cache = (None if cache_root is None
             else cache_root / f"{ds.name}-seed{seed}-fold{split.fold}")
    t0 = time.perf_counter()
    result = run_benchmark(train, estimators, folds=folds, repeats=repeats, seed=seed,
                           robustness=False, jobs=1, out=cache, resume=cache is not None)
    bench = time.perf_counter() - t0
    if not result.strategies:
        raise RuntimeError(f"no strategy could be ranked: {result.errors}")
    t1 = time.perf_counter()
    y = np.searchsorted(np.asarray(result.classes), np.asarray(train.y))
    chosen = handed_over(result.folds, result.splits, result.strategies, estimators, y,
                         np.asarray(result.classes), result.primary_metric)
    if rule == "ensemble" and chosen is not None:
        model = ensemble_estimator(estimators, chosen["weights"], chosen["prior"], seed)
        note = ("ensemble " + " ".join(f"{n}={w:.2f}" for n, w in sorted(
            chosen["weights"].items(), key=lambda kv: -kv[1])) + f"; prior {chosen['prior']}")
    else:
        name = (chosen["select_best"] if rule == "best" and chosen is not None
                else result.best)
        model, note = estimators[name], name
    model = refit_best(train, model, seed=seed)
    extra = time.perf_counter() - t1
    proba = reorder(model.predict_proba(ds.data[split.test]), model.classes_, ds.classes)
    return proba, f"{note}; benchmark {bench:.1f} s, choice and refit {extra:.1f} s"


def medfuse_selected(datasets, *, select_folds: int = 5, select_repeats: int = 3, **_):
    """What a user gets from ``medfuse benchmark`` on the training subjects: the ensemble
    (the default ``select:``), the one-standard-error choice (``select: best``) and, for
    reference, the top of the CV ranking; each refitted on all training subjects."""
    return [Contender("selected", label, functools.partial(
        _fit_handed_over, rule, select_folds, select_repeats, SELECTION_CACHE))
            for rule, label in RULES.items()], []


# --------------------------------------------------------------------------- sklearn
def _concat(ds: PeerDataset, index: np.ndarray) -> np.ndarray:
    return np.hstack([v[index] for v in ds.views.values()])


def _logistic_cv(seed: int, y: np.ndarray):
    """Standardised logistic regression with C chosen by 5-fold CV (fewer folds when the
    smallest training class is smaller, as a user of a small cohort would have to)."""
    folds = int(min(5, np.bincount(y).min()))
    return make_pipeline(StandardScaler(), LogisticRegressionCV(
        cv=StratifiedKFold(max(folds, 2), shuffle=True, random_state=seed), max_iter=5000))


def _fit_concat(kind: str, ds: PeerDataset, split: Split, seed: int) -> np.ndarray:
    model = {"logistic": lambda: _logistic_cv(seed, ds.y[split.train]),
             "forest": lambda: RandomForestClassifier(random_state=seed),
             "boosting": lambda: HistGradientBoostingClassifier(random_state=seed)}[kind]()
    model.fit(_concat(ds, split.train), ds.y[split.train])
    return reorder(model.predict_proba(_concat(ds, split.test)), model.classes_,
                   np.arange(len(ds.classes)))


def _fit_late_logistic(ds: PeerDataset, split: Split, seed: int) -> np.ndarray:
    probas = []
    for view in ds.views.values():
        model = _logistic_cv(seed, ds.y[split.train]).fit(view[split.train],
                                                           ds.y[split.train])
        probas.append(reorder(model.predict_proba(view[split.test]), model.classes_,
                              np.arange(len(ds.classes))))
    return np.mean(probas, axis=0)


def sklearn_baselines(datasets, **_):
    """Concatenated blocks (logistic regression with CV-chosen C, random forest, histogram
    gradient boosting, all scikit-learn defaults otherwise) and per-modality logistic
    regressions whose probabilities are averaged."""
    return [Contender("sklearn", "concat logistic (CV)", functools.partial(_fit_concat,
                                                                           "logistic")),
            Contender("sklearn", "concat random forest", functools.partial(_fit_concat,
                                                                           "forest")),
            Contender("sklearn", "concat gradient boosting",
                      functools.partial(_fit_concat, "boosting")),
            Contender("sklearn", "late logistic (mean)", _fit_late_logistic)], []


# --------------------------------------------------------------------------- mvlearn
def _fit_embedding(kind: str, ds: PeerDataset, split: Split, seed: int) -> np.ndarray:
    from mvlearn import embed

    train, test = scaled_views(ds, split)
    emb = getattr(embed, kind)().fit(train)
    z_train, z_test = (np.hstack(list(emb.transform(v))) for v in (train, test))
    model = _logistic_cv(seed, ds.y[split.train]).fit(z_train, ds.y[split.train])
    return reorder(model.predict_proba(z_test), model.classes_, np.arange(len(ds.classes)))


def _two_views(views: list[np.ndarray]) -> list[np.ndarray]:
    """Co-training takes two views: the first block, and the others side by side."""
    return [views[0], np.hstack(views[1:])] if len(views) > 2 else views


def _fit_cotraining(ds: PeerDataset, split: Split, seed: int) -> np.ndarray:
    from mvlearn.semi_supervised import CTClassifier

    train, test = scaled_views(ds, split)
    model = CTClassifier(random_state=seed).fit(_two_views(train), ds.y[split.train])
    return reorder(model.predict_proba(_two_views(test)), model.classes_,
                   np.arange(len(ds.classes)))


def mvlearn_models(datasets, **_):
    """GCCA / MCCA / KMCCA embeddings (defaults) + logistic regression, and co-training
    (two views: the first block and the others concatenated)."""
    try:
        import mvlearn  # noqa: F401
    except ImportError as exc:
        return [], [f"skipped: mvlearn is not importable ({exc}); pip install mvlearn"]
    notes = ["MVMDS not run: it embeds only the subjects it is fitted on (fit_transform, no "
             "transform), so it cannot place held-out test subjects",
             "CTClassifier (co-training) takes exactly two views: ROSMAP's first block vs the "
             "other two concatenated; with every subject labelled it is late fusion of two "
             "GaussianNB"]
    out = [Contender("mvlearn", f"{k} + logistic", functools.partial(_fit_embedding, k))
           for k in ("GCCA", "MCCA", "KMCCA")]
    out.append(Contender("mvlearn", "CTClassifier", _fit_cotraining))
    return out, notes


# --------------------------------------------------------------------------- fusilli
def _write_fusilli_csvs(ds: PeerDataset, index: np.ndarray, folder: Path,
                        scalers: list) -> dict[str, str]:
    paths = {}
    for k, (view, scaler) in enumerate(zip(ds.views.values(), scalers, strict=True), 1):
        frame = pd.DataFrame(scaler.transform(view[index]),
                             columns=[f"f{j}" for j in range(view.shape[1])])
        frame.insert(0, "ID", np.arange(len(index)))
        frame["prediction_label"] = ds.y[index]
        path = folder / f"tabular{k}.csv"
        frame.to_csv(path, index=False)
        paths[f"tabular{k}"] = str(path)
    return paths


def _fit_fusilli(class_name: str, max_epochs: int, ds: PeerDataset, split: Split,
                 seed: int) -> np.ndarray:
    import lightning.pytorch as pl
    import torch
    from fusilli.data import CustomDataset, prepare_fusion_data
    from fusilli.train import train_and_save_models

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    cls = _fusilli_classes()[class_name]
    task = "binary" if len(ds.classes) == 2 else "multiclass"
    scalers = [StandardScaler().fit(v[split.train]) for v in ds.views.values()]
    # fusilli's early stopping watches its "test" subjects: give it a validation part of
    # OUR training subjects, so that our test subjects never steer its training.
    _, validation = train_test_split(np.arange(len(split.train)),
                                     test_size=FUSILLI_VALIDATION,
                                     stratify=ds.y[split.train], random_state=seed)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        folder = Path(tmp)
        outputs = {k: str(folder / k) for k in ("checkpoints", "figures", "losses")}
        for p in outputs.values():
            os.makedirs(p)
        pl.seed_everything(seed, verbose=False)
        module = prepare_fusion_data(
            task, cls, _write_fusilli_csvs(ds, split.train, folder, scalers), outputs,
            test_indices=list(validation), max_epochs=max_epochs,
            multiclass_dimensions=None if task == "binary" else len(ds.classes))
        model = train_and_save_models(module, cls, max_epochs=max_epochs,
                                      enable_checkpointing=False)[0]
        model.eval()
        tensors = [torch.tensor(s.transform(v[split.test]), dtype=torch.float32)
                   for v, s in zip(ds.views.values(), scalers, strict=True)]
        test = CustomDataset(tensors, pd.DataFrame({"prediction_label": ds.y[split.test]}))
        if model.model.subspace_method is not None:
            latents, labels, _ = module.subspace_method_train.convert_to_latent(test)
            test = CustomDataset(latents, labels)
        with torch.no_grad():
            x, _ = model.get_data_from_batch(test[:])
            logits, _ = model.get_model_outputs(x)
    logits = logits.detach().cpu().numpy()
    if task == "binary":
        p = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.column_stack([1 - p, p])
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@functools.cache
def _fusilli_classes() -> dict[str, type]:
    from fusilli.utils.model_chooser import import_chosen_fusion_models

    with contextlib.redirect_stdout(io.StringIO()):
        found = import_chosen_fusion_models({"modality_type": ["tabular_tabular"]})
    return {c.__name__: c for c in found}


def fusilli_models(datasets, *, quick: bool = False, **_):
    """fusilli's tabular-tabular fusion models with their defaults (batch 8, its optimiser,
    up to 1000 epochs with EarlyStopping on val_loss, patience 15) on z-scored blocks."""
    try:
        classes = _fusilli_classes()
    except ImportError as exc:
        return [], [f"skipped: fusilli is not importable ({exc}); pip install fusilli"]
    epochs = FUSILLI_QUICK_EPOCHS if quick else 1000
    notes = [f"early stopping: fusilli stops on the loss of its test_indices and validates on "
             f"them; here test_indices are a stratified {FUSILLI_VALIDATION:.0%} of OUR "
             f"training subjects, so our test subjects are never seen in training (they are "
             f"predicted afterwards by the trained network); max_epochs {epochs}"]
    out = []
    for name, cls in classes.items():
        if getattr(cls, "fusion_type", "") == "graph":
            notes.append(f"{name} not run: a graph model is transductive (the test subjects "
                         "must be nodes of the training graph; fusilli refuses new data for it)")
            continue
        fits = [ds.name for ds in datasets
                if len(ds.views) == 2 or (len(ds.views) == 3 and cls.three_modalities)]
        left = [ds.name for ds in datasets if ds.name not in fits]
        if left:
            notes.append(f"{name} not run on {', '.join(left)}: it takes two tabular blocks")
        if fits:
            out.append(Contender("fusilli", name,
                                 functools.partial(_fit_fusilli, name, epochs), tuple(fits)))
    return out, notes


# -------------------------------------------------------------------------- mixOmics
def mixomics_available() -> str | None:
    """None when Rscript with mixOmics is here, else why not."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript is not on PATH"
    done = subprocess.run([rscript, "-e", "library(mixOmics)"], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        return "R has no mixOmics package (install it from Bioconductor)"
    return None


def mixomics_diablo(datasets, **_):
    """DIABLO (mixOmics ``block.splsda``, tuned on the training subjects) through Rscript;
    see ``peer_diablo.py`` for the settings."""
    why = mixomics_available()
    if why is not None:
        return [], [f"skipped: {why}; DIABLO not run"]
    import peer_diablo

    return peer_diablo.contenders(datasets)


# ------------------------------------------------------------------------- AutoGluon
def _fit_autogluon(seconds: float, ds: PeerDataset, split: Split, seed: int
                   ) -> tuple[np.ndarray, str]:
    from autogluon.tabular import TabularPredictor

    logging.getLogger("autogluon").setLevel(logging.ERROR)
    binary = len(ds.classes) == 2
    columns = [f"f{j}" for j in range(sum(v.shape[1] for v in ds.views.values()))]
    train = pd.DataFrame(_concat(ds, split.train), columns=columns)
    train["label"] = ds.y[split.train]
    test = pd.DataFrame(_concat(ds, split.test), columns=columns)
    with tempfile.TemporaryDirectory(prefix="autogluon-") as tmp:
        predictor = TabularPredictor(
            label="label", problem_type="binary" if binary else "multiclass",
            eval_metric="roc_auc" if binary else "log_loss", path=tmp, verbosity=0,
            learner_kwargs={"random_state": seed})
        predictor.fit(train, presets=AUTOGLUON_PRESET, time_limit=seconds, num_cpus=1,
                      num_gpus=0, ag_args_fit={"num_cpus": 1, "num_gpus": 0},
                      excluded_model_types=list(AUTOGLUON_EXCLUDED),
                      calibrate_decision_threshold=False)
        proba = predictor.predict_proba(test)
        note = f"best {predictor.model_best} of {', '.join(predictor.model_names())}"
    return reorder(proba.to_numpy(), proba.columns, np.arange(len(ds.classes))), note


def autogluon_models(datasets, *, quick: bool = False, autogluon_seconds: float | None = None,
                     **_):
    """AutoGluon's TabularPredictor on the concatenated blocks (as the scikit-learn
    baselines see them), its ``medium_quality`` preset, one CPU, no GPU, a time limit per
    fit; the seed is the learner's ``random_state`` (it draws AutoGluon's holdout split)."""
    try:
        import autogluon.tabular  # noqa: F401
    except ImportError as exc:
        return [], [f"skipped: autogluon is not importable ({exc}); "
                    "pip install autogluon.tabular"]
    seconds = autogluon_seconds
    if seconds is None:
        seconds = AUTOGLUON_QUICK_SECONDS if quick else AUTOGLUON_SECONDS
    notes = [f"AutoGluon: presets={AUTOGLUON_PRESET!r}, time_limit {seconds:g} s per fit, "
             "num_cpus=1, num_gpus=0, eval_metric roc_auc (binary) / log_loss (multiclass), "
             f"model types {', '.join(AUTOGLUON_EXCLUDED)} left out; the seed sets the "
             "holdout split (learner random_state), each model keeps AutoGluon's own seed; "
             "each fit's note names the models it fitted"]
    return [Contender("autogluon", f"TabularPredictor ({AUTOGLUON_PRESET})",
                      functools.partial(_fit_autogluon, seconds))], notes
