"""Live comparison with R (sva, DESeq2) on freshly simulated data; skipped without Rscript
or without those two Bioconductor packages."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from medfuse.preprocess import VST, ComBat, ComBatSeq


def _r_has(*packages: str) -> bool:
    if shutil.which("Rscript") is None:
        return False
    code = "; ".join(f"suppressPackageStartupMessages(library({p}))" for p in packages)
    return subprocess.run(["Rscript", "-e", code], capture_output=True,
                          timeout=120).returncode == 0


pytestmark = [pytest.mark.r,
              pytest.mark.skipif(not _r_has("sva", "DESeq2"),
                                 reason="Rscript with sva and DESeq2 not found")]

R_CODE = r"""
suppressPackageStartupMessages({library(sva); library(DESeq2)})
d <- commandArgs(TRUE)[1]
x <- t(as.matrix(read.csv(file.path(d, "x.csv"), row.names = 1)))
meta <- read.csv(file.path(d, "meta.csv"), row.names = 1)
cts <- t(as.matrix(read.csv(file.path(d, "counts.csv"), row.names = 1)))
mod <- model.matrix(~ sex + bmi, data = meta)
q <- function(e) { invisible(capture.output(r <- suppressMessages(e))); r }
w <- function(m, f) write.csv(t(m), file.path(d, f))
w(q(ComBat(x, meta$batch, mod = mod)), "param.csv")
w(q(ComBat(x, meta$batch, mod = mod, par.prior = FALSE)), "nonparam.csv")
w(q(ComBat_seq(cts, meta$batch, group = meta$sex)), "seq.csv")
cd <- data.frame(row.names = colnames(cts), a = rep(1, ncol(cts)))
dds <- DESeqDataSetFromMatrix(cts, cd, ~ 1)
w(assay(q(varianceStabilizingTransformation(dds, blind = TRUE))), "vst.csv")
w(assay(q(varianceStabilizingTransformation(dds, blind = TRUE, fitType = "local"))),
  "vst_local.csv")
small <- 1:22    # batch z cut to 2 subjects: sva's common-dispersion branch
w(q(ComBat_seq(cts[, small], meta$batch[small], group = meta$sex[small])), "seq_small.csv")
"""


def test_live_against_r(tmp_path):
    rng = np.random.default_rng(123)
    n, g = 30, 25
    ids = [f"s{i}" for i in range(n)]
    meta = pd.DataFrame({"batch": np.repeat(["x", "y", "z"], 10),
                         "sex": rng.choice(["F", "M"], n),
                         "bmi": rng.normal(25, 4, n).round(1)}, index=ids)
    shift = np.repeat(rng.normal(0, 1, (3, g)), 10, axis=0)
    X = pd.DataFrame(rng.normal(size=(n, g)) * np.repeat([0.5, 1, 2], 10)[:, None] + shift,
                     index=ids, columns=[f"f{j}" for j in range(g)])
    mu = np.exp(rng.normal(3, 1, g)) * np.exp(np.repeat(rng.normal(0, 0.5, (3, g)), 10, axis=0))
    counts = pd.DataFrame(rng.negative_binomial(5, 5 / (5 + mu)), index=ids,
                          columns=[f"g{j}" for j in range(g)])
    X.to_csv(tmp_path / "x.csv")
    meta.to_csv(tmp_path / "meta.csv")
    counts.to_csv(tmp_path / "counts.csv")
    (tmp_path / "run.R").write_text(R_CODE)
    subprocess.run(["Rscript", str(tmp_path / "run.R"), str(tmp_path)], check=True,
                   capture_output=True, timeout=120)

    def read(name):
        return pd.read_csv(tmp_path / name, index_col=0).to_numpy()

    cov = meta[["sex", "bmi"]]
    np.testing.assert_allclose(ComBat().fit_transform(X, batch=meta["batch"], covariates=cov),
                               read("param.csv"), rtol=0, atol=1e-8)
    np.testing.assert_allclose(
        ComBat(parametric=False).fit_transform(X, batch=meta["batch"], covariates=cov),
        read("nonparam.csv"), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(
        ComBatSeq().fit_transform(counts, batch=meta["batch"], group=meta["sex"]),
        read("seq.csv"))
    np.testing.assert_allclose(VST().fit_transform(counts), read("vst.csv"), rtol=0, atol=1e-8)
    np.testing.assert_allclose(VST(fit_type="local").fit_transform(counts),
                               read("vst_local.csv"), rtol=0, atol=1e-8)
    small = meta.index[:22]
    np.testing.assert_array_equal(
        ComBatSeq().fit_transform(counts.loc[small], batch=meta.loc[small, "batch"],
                                  group=meta.loc[small, "sex"]),
        read("seq_small.csv"))
