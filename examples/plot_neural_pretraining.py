"""
Neural fusion: attention, loss terms and pre-training on unlabelled subjects
============================================================================

The neural strategies (``intermediate``, ``attention``, ``cross-attention``) encode each
modality into a latent vector, fuse the latents and classify. A missing modality is
represented by a learned embedding (``intermediate``) or masked out of the attention
(``attention``, ``cross-attention``), and *modality dropout* hides modalities at random
during training so that predicting from a subset is learnt.

Training minimises a list of loss terms (:mod:`medfuse.fusion.neural.objectives`):
class-weighted cross-entropy, by default plus a reconstruction term; an optional first
stage (``pretrain_epochs``) trains the encoders without labels on every subject, including
those whose outcome is unknown. Small settings here (one network, few epochs, one torch
thread: small networks train faster on one) keep the example fast; the defaults average
five networks.
"""

# %%
# A cohort in which most outcomes are unknown
# -------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from medfuse.data import make_cohort

data = make_cohort(400, n_genes=100, n_imaging=30, interaction=0.0,
                   missing={"imaging": 0.25}, random_state=0)
train, test = data[:300], data[300:]
y = train.y.astype(float).to_numpy()
unknown = np.random.default_rng(0).random(len(y)) < 0.6
y[unknown] = np.nan
print(f"{int((~unknown).sum())} labelled and {int(unknown.sum())} unlabelled training subjects")

# %%
# Attention fusion, with and without pre-training
# -----------------------------------------------
# Without ``pretrain_epochs`` a subject without an outcome is refused, so the first model
# sees the labelled subjects only; the second pre-trains on all 300 with the
# reconstruction term.
from medfuse.fusion import make
from medfuse.fusion.neural.objectives import CrossEntropy, Reconstruction

settings = dict(n_ensemble=1, max_epochs=60, patience=10, latent_dim=16, n_threads=1,
                random_state=0)
labelled = train[np.flatnonzero(~unknown)]
plain = make("attention", **settings).fit(labelled, y[~unknown])
pretrained = make("attention", pretrain_epochs=30, pretrain_objectives=[Reconstruction()],
                  objectives=[CrossEntropy(), Reconstruction(0.5)], **settings)
pretrained.fit(train, y)

for name, model in [("labelled only", plain), ("pre-trained on all", pretrained)]:
    auc = roc_auc_score(test.y, model.predict_proba(test)[:, 1])
    print(f"{name:>20}: test AUC {auc:.3f}")

# %%
# Training curves and attention
# -----------------------------
# ``pretrain_loss_`` and ``history_`` hold one list per ensemble member; ``attention_``
# is the mean attention weight of each modality over the training subjects.
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
axes[0].plot(pretrained.pretrain_loss_[0], color="tab:gray")
axes[0].set_title("unsupervised stage")
axes[0].set_xlabel("epoch")
history = pretrained.history_[0]
axes[1].plot(history["train_loss"], label="train")
axes[1].plot(history["val_loss"], label="validation")
axes[1].axvline(pretrained.best_epoch_[0], color="black", ls=":", label="kept")
axes[1].set_title("supervised stage")
axes[1].set_xlabel("epoch")
axes[1].legend()
fig.tight_layout()
print(pretrained.attention_.round(3))

# %%
# Per-subject attention: a subject lacking imaging puts no weight on it.
weights = pretrained.attention_weights(test)
print(weights.head().round(3).to_string())
