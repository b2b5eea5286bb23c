"""
Ragged images and wearable streams with representations
=======================================================

Scans come in different sizes and voxel spacings; wearable recordings have different
lengths and irregular timestamps. A :class:`~medfuse.data.RaggedBlock` holds one array of
its own shape per subject, with companion fields (a ``mask``, ``timestamps``) and metadata
(``spacing`` in mm), and is never padded or resampled. A *representation* turns such a raw
modality into a feature table inside every fit, so every strategy can use it:

- ``image-statistics``: per channel, intensity statistics inside the mask, and the mask
  volume in physical units (voxel count times the product of the spacing);
- ``series-summary``: per channel, mean, sd, min, max and the least-squares slope against
  the timestamps.

The cohort is simulated here: a lesion whose volume (in mm³) and a heart-rate trend (per
hour) carry the outcome.
"""

# %%
# Build the ragged blocks
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medfuse.data import MultiModalData, RaggedBlock

rng = np.random.default_rng(0)
n = 160
ids = [f"P{i:03d}" for i in range(n)]
label = rng.integers(0, 2, n)

images, masks, spacing = [], [], []
for i in range(n):
    shape = tuple(rng.integers(16, 29, size=3))               # every scan its own size
    voxel = (float(rng.choice([0.8, 1.0, 1.25])), 1.0, 2.0)    # mm per axis
    radius_mm = 6.0 + 1.5 * label[i] + rng.normal(0, 1.0)      # larger lesion if label 1
    grid = np.indices(shape).astype(float)
    centre = np.array(shape)[:, None, None, None] / 2
    dist = np.sqrt((((grid - centre) * np.array(voxel)[:, None, None, None]) ** 2).sum(0))
    mask = (dist < radius_mm).astype(np.uint8)
    image = rng.normal(100, 10, size=(1, *shape)) + 40 * mask
    images.append(image.astype(np.float32))
    masks.append(mask)
    spacing.append(voxel)
meta = pd.DataFrame({"spacing": pd.Series(spacing, index=ids, dtype=object)}, index=ids)
scans = RaggedBlock(ids, images, {"mask": masks}, meta)

series, stamps = [], []
for i in range(n):
    t = np.sort(rng.uniform(0, 24, size=rng.integers(30, 120)))   # hours, irregular
    trend = (0.4 if label[i] else -0.1) + rng.normal(0, 0.3)
    heart = 70 + trend * t + rng.normal(0, 3, size=t.size)
    steps = rng.poisson(50, size=t.size).astype(float)
    series.append(np.vstack([heart, steps]))
    stamps.append(t)
wearable = RaggedBlock(ids, series, {"timestamps": stamps})
print("first scan shapes:", scans.shapes[:3])
print("first stream lengths:", [s[1] for s in wearable.shapes[:3]])

# %%
# One cohort, aligned by ID; a quarter of the subjects have no wearable.
has_stream = rng.random(n) > 0.25
data = MultiModalData(
    {"ct": scans, "wearable": wearable.take(np.flatnonzero(has_stream))},
    obs=pd.DataFrame({"label": label}, index=ids), outcome="label",
    modalities={"ct": "image", "wearable": "timeseries"})
print(data.summary_frame())

# %%
# Representations
# ---------------
# Each representation is a transformer from one raw block to a feature table.
from medfuse.represent import ImageStatistics, SeriesSummary, representation_names

print(representation_names())
features = ImageStatistics().fit(data.block("ct")).transform(data.block("ct"))
print(features.head(3).round(1).to_string())

fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
for k, name in enumerate(["control", "case"]):
    rows = (label == k)
    axes[0].hist(features["volume"][rows], bins=15, alpha=0.6, label=name)
axes[0].set_xlabel("lesion volume (mm³)")
axes[0].legend()
middle = images[0].shape[3] // 2
axes[1].imshow(images[0][0, :, :, middle], cmap="gray")
axes[1].contour(masks[0][:, :, middle], levels=[0.5], colors="tab:red")
axes[1].set_title(f"subject {ids[0]}, {images[0].shape[1:]} voxels")
axes[1].axis("off")
fig.tight_layout()

# %%
# ``series-summary`` uses the ``timestamps`` field, so the slope is per hour whatever the
# sampling.
summary = SeriesSummary().fit(data.block("wearable")).transform(data.block("wearable"))
print(summary.head(3).round(2).to_string())

# %%
# Any strategy on raw modalities
# ------------------------------
# ``make(name, representations={...})`` wraps a strategy so that the representations are
# fitted on the training subjects of every fold and saved with the model; the same mapping
# is the ``representations:`` section of a study file.
from medfuse.evaluate import run_benchmark
from medfuse.fusion import make

reps = {"ct": "image-statistics", "wearable": "series-summary"}
strategies = {name: make(name, representations=reps)
              for name in ["unimodal:ct", "unimodal:wearable", "late-mean", "early"]}
result = run_benchmark(data, strategies, folds=3, repeats=1, robustness=False)
print(result.results().query("metric == 'roc_auc' and split == 'cv'")
      [["strategy", "mean", "sd"]].round(3).to_string(index=False))
