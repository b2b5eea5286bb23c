"""
Survival: fusing modalities for time-to-event outcomes
======================================================

For ``task="survival"`` the outcome is a time and an event indicator (``obs`` columns
``time`` and ``event``). The survival strategies are elastic-net Cox models whose penalty is
chosen by inner cross-validation of Harrell's C:

- ``unimodal-cox:<modality>``: one modality (subjects without it get the training mean
  risk);
- ``cox-early``: the preprocessed blocks concatenated, a missing block imputed with its
  training mean plus one availability indicator per modality;
- ``cox-late``: one Cox model per modality, each risk standardised on the training
  subjects and averaged over the modalities a subject has.

They predict a risk (higher = earlier event) and are scored by ``c_index`` and ``td_auc``.
"""

# %%
# A simulated cohort with censoring
# ---------------------------------
# Event times are exponential with hazard ``0.1 * exp(eta)`` per year, where ``eta`` sums
# the modalities' latent factors; censoring is uniform.
import matplotlib.pyplot as plt
import numpy as np
from sksurv.nonparametric import kaplan_meier_estimator

from medfuse.data import make_cohort

data = make_cohort(300, task="survival", n_genes=100, n_imaging=30, interaction=0.0,
                   missing={"imaging": 0.2}, random_state=0)
print(f"{len(data)} subjects, {int(data.obs['event'].sum())} events, median follow-up "
      f"{data.obs['time'].median():.1f} years")

# %%
# Benchmark the survival strategies
# ---------------------------------
# The CV splits are stratified on the event indicator; ``primary_metric="c_index"`` ranks
# the strategies (a study file with ``task: survival`` chooses it by itself).
from medfuse.evaluate import run_benchmark

strategies = ["unimodal-cox:rna", "unimodal-cox:imaging", "cox-early", "cox-late"]
result = run_benchmark(data, strategies, task="survival", folds=3, repeats=1,
                       robustness=False, primary_metric="c_index")
print(result.results().query("split == 'cv'")
      .pivot(index="strategy", columns="metric", values="mean").round(3))
print("best:", result.best)

# %%
# Risk groups of held-out subjects
# --------------------------------
# Fit ``cox-late`` on half of the subjects, split the other half at the median predicted
# risk and compare their Kaplan-Meier curves.
from medfuse.fusion import make

train, test = data[::2], data[1::2]
model = make("cox-late", random_state=0).fit(train)
risk = model.predict(test)
high = risk > np.median(risk)
fig, ax = plt.subplots(figsize=(6, 3.5))
for rows, name in [(~high, "low predicted risk"), (high, "high predicted risk")]:
    obs = test.obs[rows]
    t, s = kaplan_meier_estimator(obs["event"].to_numpy(bool), obs["time"].to_numpy())
    ax.step(t, s, where="post", label=f"{name} (n={int(rows.sum())})")
ax.set_xlabel("years")
ax.set_ylabel("event-free probability")
ax.legend()
fig.tight_layout()
print("held-out C-index:", round(model.score(test), 3))

# %%
# Which modality drove each risk?
# -------------------------------
# :func:`~medfuse.explain.modality_shapley` explains a survival model's risk as one output
# named ``risk``; the base value is the mean risk of the explained subjects.
from medfuse.explain import modality_shapley

print(modality_shapley(model, test).mean_abs().round(3))
