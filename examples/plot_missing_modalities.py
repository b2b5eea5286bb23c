"""
Missing modalities and robustness
=================================

Real cohorts are rarely complete: imaging is missing for some patients, sequencing failed
for others. In medfuse a missing modality is an availability state, not a row of NaN: every
strategy predicts from the modalities each subject has, and the benchmark scores every fold
model again with only some modalities available.

This example simulates a cohort with known answers in which 30 % of the subjects lack the
imaging modality, missing at random given age (MAR), and compares how strategies cope.
"""

# %%
# A cohort with missing imaging
# -----------------------------
# :func:`~medfuse.data.make_cohort` draws one latent factor per modality; the outcome's
# log-odds are a sum of these factors plus an interaction. ``missing_mechanism="MAR"``
# makes older subjects more likely to lack imaging.
import matplotlib.pyplot as plt
import numpy as np

from medfuse.data import make_cohort

data = make_cohort(240, n_genes=100, n_imaging=30, interaction=0.0,
                   effects={"rna": 1.0, "imaging": 1.5, "clinical": 0.5},
                   missing={"imaging": 0.3}, missing_mechanism="MAR", random_state=0)
print(data.summary_frame())
print(data.available.value_counts())

# %%
# Availability is a boolean subjects x modalities table. ``hide`` marks modalities as
# unavailable without removing them, which is how a model is scored as if they were missing.
hidden = data.hide("imaging")
print("subjects with imaging:", int(data.available["imaging"].sum()), "->",
      int(hidden.available["imaging"].sum()))

# %%
# Benchmark with robustness
# -------------------------
# With ``robustness=True`` every fold model is also scored on the held-out subjects with
# each subset of the modalities available (all ``2^M - 1`` subsets for up to five
# modalities).
from medfuse.evaluate import run_benchmark

strategies = ["unimodal:rna", "unimodal:imaging", "early", "late-mean"]
result = run_benchmark(data, strategies, folds=3, repeats=1, robustness=True)
robust = result.robustness()
auc = robust[robust.metric == "roc_auc"].pivot(index="available", columns="strategy",
                                               values="mean")
print(auc.round(3))

# %%
# Plot AUC by availability
# ------------------------
# Each row scores the held-out subjects that have at least one of the listed modalities
# (the ``imaging`` rows cover only the subjects measured with imaging). A unimodal baseline
# gives the training class prior to subjects without its modality, hence AUC 0.5 where its
# modality is hidden; the fusion strategies use whatever is left.
auc = auc.loc[sorted(auc.index, key=lambda key: (-key.count("+"), key))]
fig, ax = plt.subplots(figsize=(7, 4))
image = ax.imshow(auc.to_numpy(), cmap="viridis", vmin=0.5, vmax=auc.to_numpy().max())
for (i, j), value in np.ndenumerate(auc.to_numpy()):
    ax.text(j, i, f"{value:.2f}", ha="center", va="center",
            color="white" if value < 0.6 else "black", fontsize="small")
ax.set_xticks(range(auc.shape[1]), auc.columns, rotation=20)
ax.set_yticks(range(auc.shape[0]), auc.index)
ax.set_ylabel("modalities available")
fig.colorbar(image, ax=ax, label="ROC AUC (3-fold CV)")
fig.tight_layout()

# %%
# Predicting for one subject with any subset
# ------------------------------------------
# A fitted strategy predicts for any subject with at least one of its training modalities.
from medfuse.fusion import make

model = make("late-weighted", cv=3, random_state=0).fit(data)
print("learned weights:", model.modality_weights_.round(2).to_dict())
print(model.predict_proba(data.hide("imaging")[:3]).round(3))  # RNA and clinical only
