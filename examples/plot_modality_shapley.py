"""
Which modality drove each prediction? Modality Shapley values
=============================================================

:func:`~medfuse.explain.modality_shapley` treats the modalities a subject has as the
players of a cooperative game whose value is the model's predicted probability from a
coalition of them. The exact Shapley values split each prediction, minus the training class
frequency, among the modalities, and they add up exactly. With ``refit=True`` the same game
is played with cohort performance: the strategy is refitted on every coalition of
modalities.

The data are GSE7390 (198 node-negative breast cancer patients untreated by systemic
therapy, shipped by scikit-survival): 76 expression probes and four clinical variables, and
distant metastasis within five years as the outcome.
"""

# %%
# Fit a strategy
# --------------
import warnings

import matplotlib.pyplot as plt
import numpy as np

from medfuse.data import load_gse7390
from medfuse.explain import modality_shapley
from medfuse.fusion import make

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # lists the patients censored before 5 y
    data = load_gse7390()
train, test = data[::2], data[1::2]
model = make("late-weighted", cv=3, random_state=0).fit(train)
print("learned modality weights:", model.modality_weights_.round(3).to_dict())

# %%
# Per-subject attributions
# ------------------------
# ``per_prediction`` gives, per subject, the base value (training frequency of the
# explained class) and one column per modality; their sum is the predicted probability.
att = modality_shapley(model, test)
table = att.per_prediction()
print(table.head().round(3).to_string())
proba = model.predict_proba(test)[:, 1]
total = table.filter(like="shapley_").sum(axis=1).to_numpy()
print("largest gap between sum and prediction:", float(np.abs(total - proba).max()))

# %%
# Plot the attributions
# ---------------------
# Subjects are sorted by their predicted probability of metastasis; the bars show how much
# each modality moved it away from the base value.
frame = att.frame().iloc[np.argsort(proba)]
fig, ax = plt.subplots(figsize=(7, 3.5))
bottom_pos = np.zeros(len(frame))
bottom_neg = np.zeros(len(frame))
for modality, colour in zip(frame.columns, ["tab:purple", "tab:orange"], strict=False):
    v = frame[modality].to_numpy()
    ax.bar(range(len(v)), np.clip(v, 0, None), bottom=bottom_pos, color=colour,
           label=modality, width=1.0)
    ax.bar(range(len(v)), np.clip(v, None, 0), bottom=bottom_neg, color=colour, width=1.0)
    bottom_pos += np.clip(v, 0, None)
    bottom_neg += np.clip(v, None, 0)
ax.axhline(0, color="black", lw=0.5)
ax.set_xlabel("test subjects, by predicted probability")
ax.set_ylabel("Shapley value (probability)")
ax.legend()
fig.tight_layout()
print(att.mean_abs().round(3))

# %%
# Contribution to performance
# ---------------------------
# ``refit=True`` refits a clone of a strategy (here ``late-mean``, which is quick to fit)
# on each of the ``2^M - 1`` coalitions of
# modalities and scores it on the evaluation subjects; the values add up to the full
# model's score minus the score of the class-frequency prediction (0.5 for ROC AUC).
perf = modality_shapley(make("late-mean"), test, refit=True,
                        train=train, scoring="roc_auc")
print(perf.coalition_scores.round(3))
print("Shapley values:", perf.values.round(3).to_dict(), "base:", perf.base_value,
      "full:", round(perf.full_score, 3))
