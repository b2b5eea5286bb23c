"""
A modality kind of your own
===========================

A modality kind tells medfuse how one sort of measurement is read, validated, preprocessed
and modelled. The built-in kinds are ``continuous``, ``counts``, ``clinical``,
``sequence``, ``image`` and ``timeseries``; a new one is a subclass of
:class:`~medfuse.data.kinds.Kind` registered with
:func:`~medfuse.data.kinds.register_kind`. Every strategy whose ``needs`` the kind meets
can then use it, and study files, ``medfuse info`` and ``medfuse predict`` read its files.

This example adds a ``genotype`` kind: SNP dosages 0, 1 or 2 in tab-separated ``.geno``
files, standardised by allele frequency.
"""

# %%
# The kind
# --------
# A kind overrides only what differs from the base class: here the file ending and how the
# file is read and written, the check of the values and the default preprocessing.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from medfuse.data import DataValidationError, MultiModalData, read_folder
from medfuse.data.kinds import Kind, kind_names, register_kind


class GenotypeScaler(TransformerMixin, BaseEstimator):
    """Centre dosages by ``2p`` and scale by ``sqrt(2p(1-p))``, with ``p`` the training
    allele frequency of each SNP."""

    def fit(self, X, y=None):
        p = np.asarray(X, dtype=float).mean(axis=0) / 2
        self.centre_ = 2 * p
        self.scale_ = np.sqrt(np.clip(2 * p * (1 - p), 1e-6, None))
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=float) - self.centre_) / self.scale_


class GenotypeKind(Kind):
    """SNP dosages 0/1/2, one ``.geno`` file (tab-separated, first column subject ID)."""

    name = "genotype"
    suffixes = (".geno",)

    def read(self, path):
        frame = pd.read_csv(path, sep="\t", index_col=0, dtype={0: str})
        frame.index = frame.index.astype(str)
        return frame

    def write(self, block, ids, folder, name, fmt):
        block.to_csv(folder / f"{name}.geno", sep="\t")
        return f"{name}.geno"

    def coerce(self, name, frame):
        return frame.apply(pd.to_numeric, errors="coerce")

    def check(self, name, spec, measured):
        bad = ~measured.isin([0, 1, 2])
        if bad.any().any():
            column = measured.columns[bad.any()][0]
            subject = measured.index[bad[column]][0]
            raise DataValidationError(
                f"Modality {name!r}, column {column!r}: dosage "
                f"{measured.loc[subject, column]!r} of subject {subject!r} is not 0, 1 or 2.")

    def default_preprocessor(self, spec):
        return GenotypeScaler()


register_kind(GenotypeKind)
print(kind_names())

# %%
# Data of the new kind
# --------------------
# A simulated cohort: the outcome depends on the first four SNPs; a small clinical table
# goes with it. Invalid dosages are refused with a message that names the cell.
rng = np.random.default_rng(0)
n = 200
ids = [f"S{i:03d}" for i in range(n)]
frequency = rng.uniform(0.1, 0.5, 40)
snps = pd.DataFrame(rng.binomial(2, frequency, size=(n, 40)), index=ids,
                    columns=[f"rs{k}" for k in range(40)])
risk = snps.iloc[:, :4].sum(axis=1) - 4 * frequency[:4].sum()
obs = pd.DataFrame({"case": (risk + rng.normal(0, 0.6, n) > 0).astype(int)}, index=ids)
clinical = pd.DataFrame({"age": rng.normal(60, 8, n)}, index=ids)

broken = snps.copy()
broken.iloc[2, 3] = 3
try:
    MultiModalData({"snps": broken}, modalities={"snps": "genotype"})
except DataValidationError as err:
    print("refused:", err)

# %%
# A folder of modality files without a manifest is read by asking each registered kind
# which files it claims: the ``.geno`` file becomes a ``genotype`` modality.
folder = Path(tempfile.mkdtemp())
snps.to_csv(folder / "snps.geno", sep="\t")
clinical.to_csv(folder / "clinical.csv")
obs.to_csv(folder / "obs.csv")
data = read_folder(folder, outcome="case")
print(data.kinds)

# %%
# Strategies that accept it
# -------------------------
# The kind inherits the capabilities ``features``, ``tabular`` and ``encoder`` of
# :class:`~medfuse.data.kinds.Kind`, so every strategy that needs them accepts it.
from medfuse.evaluate import run_benchmark
from medfuse.fusion import available

table = available()
print(table[table.kinds.str.contains("genotype")].index.tolist())

result = run_benchmark(data, ["unimodal:snps", "unimodal:clinical", "late-mean", "mkl"],
                       folds=3, repeats=1, robustness=False)
cv = result.results().query("metric == 'roc_auc' and split == 'cv'").set_index("strategy")
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.barh(cv.index, cv["mean"], xerr=cv["sd"], color="tab:green", alpha=0.7)
ax.set_xlim(0.4, 1.0)
ax.set_xlabel("ROC AUC (3-fold CV)")
fig.tight_layout()

# %%
# A command-line session or a saved model needs the kind too: put the kind in a module
# and name it in the ``MEDFUSE_PLUGINS`` environment variable (or the ``medfuse.plugins``
# entry point group of your package), and trust your transformer by its exact name when
# loading the model (``medfuse predict --trust mylab.genotype.GenotypeScaler``).

# %%
# The registry is process-wide; a plugin that is done with its kind may remove it.
from medfuse.data.kinds import unregister_kind

unregister_kind("genotype")
