"""
Quick start: a leakage-free benchmark on ROSMAP
===============================================

ROSMAP is a multi-omics Alzheimer's disease cohort (mRNA, DNA methylation and miRNA
expression, 200 features each) distributed in the MOGONET layout: 245 training and 106 test
subjects. This example reads it, benchmarks a few fusion strategies with cross-validation on
the training subjects, scores them once on the test subjects and plots the result.

The data folder is looked up at ``../shared/data/rosmap`` relative to the repository (or in
the ``MEDFUSE_ROSMAP`` environment variable). When it is absent, the example stops with an
error that says so, and the documentation build notes it instead of failing.
"""

# %%
# Read the data
# -------------
# :func:`~medfuse.data.load_mogonet` assigns subject IDs (``tr0000`` ..., ``te0000`` ...)
# once; every later step aligns the modalities by these IDs, never by row position.
import os
from pathlib import Path

import matplotlib.pyplot as plt

from medfuse.data import load_mogonet


def find_rosmap() -> Path | None:
    """The ROSMAP folder: ``MEDFUSE_ROSMAP``, else ``shared/data/rosmap`` beside the
    repository (searched upwards from the working directory)."""
    if os.environ.get("MEDFUSE_ROSMAP"):
        return Path(os.environ["MEDFUSE_ROSMAP"])
    for folder in [Path.cwd(), *Path.cwd().parents]:
        candidate = folder / "shared" / "data" / "rosmap"
        if (candidate / "labels_tr.csv").exists():
            return candidate
    return None


folder = find_rosmap()
if folder is None:
    raise FileNotFoundError("ROSMAP is not available here: put the MOGONET files in "
                            "shared/data/rosmap beside the repository or set MEDFUSE_ROSMAP "
                            "to their folder; this example is skipped.")

train, test = load_mogonet(folder)
print(train.summary_frame())
print("test subjects:", len(test))

# %%
# Benchmark a few strategies
# --------------------------
# :func:`~medfuse.evaluate.run_benchmark` clones every strategy and fits the clone inside
# every fold on the training positions only, so preprocessing, model selection and fusion
# never see the held-out subjects. Every strategy is scored on the same splits.
from medfuse.evaluate import run_benchmark

strategies = ["unimodal:mrna", "unimodal:methylation", "unimodal:mirna",
              "early", "late-mean", "late-weighted"]
result = run_benchmark(train, strategies, test=test, folds=3, repeats=1, seeds=1,
                       robustness=False)
table = result.results()
auc = table[table.metric == "roc_auc"].pivot(index="strategy", columns="split",
                                            values="mean")
print(auc.sort_values("cv", ascending=False).round(3))

# %%
# Plot cross-validated and test AUC
# ---------------------------------
order = auc.sort_values("cv").index
cv = table[(table.metric == "roc_auc") & (table.split == "cv")].set_index("strategy")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.barh(range(len(order)), cv.loc[order, "mean"], xerr=cv.loc[order, "sd"],
        color="tab:blue", alpha=0.7, label="CV (3 folds)")
ax.scatter(auc.loc[order, "test"], range(len(order)), color="black", zorder=3,
           label="test subjects")
ax.set_yticks(range(len(order)), order)
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("ROC AUC")
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# The corrected resampled t-test compares every strategy with the best one on the shared
# CV splits (see :func:`~medfuse.evaluate.corrected_resampled_ttest`); with three folds the
# test has two degrees of freedom, so use more folds and repeats for real comparisons.
print(result.comparison()[["strategy", "reference", "metric", "mean_diff", "p_value"]]
      .query("metric == 'roc_auc'").round(3).to_string(index=False))
