"""Contrastive pre-training on unlabelled subjects against supervised fusion on the labelled
ones, on a simulated cohort whose outcome depends on a latent that two modalities share.

The cohort comes from :func:`medfuse.data.make_cohort`, called twice with the same seed:
the simulator draws the per-modality latent factors first, so both calls give the same
``u_rna`` and the same outcome, while everything drawn afterwards (genes, loadings,
dispersions, counts) differs. The ``rna`` modality of the first call (``--genes`` genes,
``--informative`` driven by ``u_rna``) and that of the second (``panel``: a second assay,
``--panel-genes`` genes) are two noisy views of ``u_rna``; the outcome is
``Bernoulli(sigmoid(effect * u_rna))`` (the other latents have no effect and no
interaction). Each view is missing for ``--missing`` of the subjects (at random; every
subject keeps one). Both calls share the two simulated sites (default batch effect).

Per seed, ``--test`` subjects are held out with their outcome; of the other ``--train``,
``--labelled`` keep theirs and the rest are unlabelled. Strategies:

- ``contrastive``: fit on all training subjects (the unlabelled ones take part in the
  contrastive pre-training only);
- ``intermediate``: fit on the labelled training subjects (the supervised baseline);
- ``late-mean``: fit on the labelled training subjects (a classical reference).

Printed: the test AUC per seed and the mean and sd over seeds, also written to
``benchmarks/results/contrastive-<date>.txt``. Settings are the strategies' defaults
(``--ensemble`` networks per fit); the ``contrastive`` defaults (100 pre-training epochs,
no reconstruction in fine-tuning) were compared with a few alternatives on separate
validation seeds (100-102), never on the reported ones.

    python benchmarks/contrastive.py [--seeds 0 1 2 3 4] [--train 500] [--labelled 0.2]
        [--test 400] [--ensemble 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np

STRATEGIES = ("contrastive", "intermediate", "late-mean")


def cohort(n: int, seed: int, *, effect: float = 2.0, genes: int = 200, informative: int = 20,
           panel_genes: int = 100, missing: float = 0.2):
    """Two count modalities that are noisy views of one latent, and the outcome it drives.

    Parameters
    ----------
    n, seed : int
        Subjects and seed.
    effect : float
        Log-odds of the outcome per sd of the shared latent.
    genes, informative, panel_genes : int
        Genes of ``rna``, informative genes of each view, genes of ``panel``.
    missing : float
        Probability that a subject lacks each view.

    Returns
    -------
    MultiModalData
        Modalities ``rna`` and ``panel``; outcome ``label``; the shared latent in
        ``uns["shared"]`` (a Series by subject).
    """
    from medfuse.data import make_cohort
    from medfuse.data.multimodal import MultiModalData

    common = {"effects": {"rna": effect, "imaging": 0.0, "clinical": 0.0},
              "interaction": 0.0, "n_imaging": 5, "random_state": seed}
    first = make_cohort(n, n_genes=genes, n_informative_genes=informative, **common)
    second = make_cohort(n, n_genes=panel_genes, n_informative_genes=informative, **common)
    shared = first.uns["truth"]["latent"]
    assert shared.equals(second.uns["truth"]["latent"]), "the two calls must share latents"
    assert first.obs["label"].equals(second.obs["label"])
    rng = np.random.default_rng([seed, 1])
    have = rng.random((n, 2)) >= missing
    lost = ~have.any(axis=1)
    have[lost, rng.integers(0, 2, int(lost.sum()))] = True
    blocks = {"rna": first.block("rna").loc[have[:, 0]],
              "panel": second.block("rna").loc[have[:, 1]]}
    return MultiModalData(blocks, obs=first.obs[["label", "batch"]],
                          modalities={"rna": "counts", "panel": "counts"}, outcome="label",
                          uns={"shared": shared["rna"]})


def split(data, seed: int, train: int, labelled: float):
    """(training data with most outcomes removed, labelled training data, test data)."""
    rng = np.random.default_rng([seed, 2])
    order = rng.permutation(len(data))
    tr, te = data.subjects[order[:train]], data.subjects[order[train:]]
    keep = tr[rng.random(len(tr)) < labelled]
    obs = data.obs.loc[tr].copy()
    obs.loc[~obs.index.isin(keep), "label"] = np.nan
    semi = data.loc(tr).with_obs(obs)
    return semi, data.loc(keep), data.loc(te)


def auc(model, data) -> float:
    """Test AUC of the positive class."""
    from sklearn.metrics import roc_auc_score

    proba = model.predict_proba(data)
    positive = list(model.classes_).index(1)
    return float(roc_auc_score(data.y.to_numpy().astype(int), proba[:, positive]))


def run_seed(seed: int, args) -> dict[str, float]:
    """Test AUC of every strategy, and of the true shared latent, for one seed."""
    from medfuse.fusion import make

    data = cohort(args.train + args.test, seed)
    semi, labelled, test = split(data, seed, args.train, args.labelled)
    neural = {"n_ensemble": args.ensemble, "n_threads": 1, "random_state": seed}
    out = {}
    for name in STRATEGIES:
        est = make(name, **neural) if name != "late-mean" else make(name, random_state=seed)
        out[name] = auc(est.fit(semi if name == "contrastive" else labelled), test)
    from sklearn.metrics import roc_auc_score

    out["oracle"] = float(roc_auc_score(test.y.to_numpy().astype(int),
                                        data.uns["shared"].loc[test.subjects]))
    return out


def main(argv=None) -> str:
    """Run the comparison, print the table and write it; returns the text."""
    import pandas as pd
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--train", type=int, default=500)
    ap.add_argument("--labelled", type=float, default=0.2)
    ap.add_argument("--test", type=int, default=400)
    ap.add_argument("--ensemble", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    start = time.perf_counter()
    rows = {seed: run_seed(seed, args) for seed in args.seeds}
    table = pd.DataFrame(rows).T.rename_axis("seed")
    scores = table[[*STRATEGIES, "oracle"]]
    summary = pd.DataFrame({"mean": scores.mean(), "sd": scores.std(ddof=1)})
    gain = scores["contrastive"] - scores["intermediate"]
    lines = [
        f"Contrastive pre-training, {datetime.date.today()}: make_cohort two-view cohort "
        f"(rna + panel share u_rna, effect 2.0, 20 % of each view missing), {args.train} "
        f"training subjects of which {args.labelled:.0%} labelled, {args.test} labelled "
        f"test subjects; n_ensemble={args.ensemble}; default settings.",
        "contrastive: all training subjects (unlabelled in pre-training); intermediate and "
        "late-mean: the labelled training subjects only; oracle: the true shared latent "
        "itself (the ceiling). Test AUC:",
        "",
        scores.round(3).to_string(),
        "",
        summary.round(3).to_string(),
        "",
        f"contrastive - intermediate: mean {gain.mean():+.3f}, sd {gain.std(ddof=1):.3f}, "
        f"better in {(gain > 0).sum()} of {len(gain)} seeds",
        f"({time.perf_counter() - start:.0f} s on one CPU thread)",
    ]
    text = "\n".join(lines)
    print(text)
    out = args.out or (Path(__file__).parent / "results"
                       / f"contrastive-{datetime.date.today()}.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
