"""A modality kind defined outside medfuse, run end to end without editing medfuse: read a
study folder, benchmark, save the model, and ``medfuse predict`` in a separate process that
loads this module as a plugin (``MEDFUSE_PLUGINS``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data import DataValidationError, MultiModalData, read_folder
from medfuse.data.kinds import Kind, register_kind
from medfuse.data.validation import to_numeric

REPO = Path(__file__).resolve().parents[1]


class GenotypeScaler(TransformerMixin, BaseEstimator):
    """Centre allele dosages by 2p and scale by sqrt(2p(1-p)) (p: training allele
    frequency), the standard genotype standardisation."""

    def fit(self, X, y=None):
        p = np.asarray(X, dtype=float).mean(axis=0) / 2
        self.centre_ = 2 * p
        self.scale_ = np.sqrt(np.clip(2 * p * (1 - p), 1e-6, None))
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=float) - self.centre_) / self.scale_


class GenotypeKind(Kind):
    """SNP dosages 0/1/2 in tab-separated ``.geno`` files (first column: subject ID)."""

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
        return to_numeric(name, frame)

    def check(self, name, spec, measured):
        bad = ~measured.isin([0, 1, 2])
        if bad.any().any():
            col = measured.columns[bad.any()][0]
            subject = measured.index[bad[col]][0]
            raise DataValidationError(f"Modality {name!r}, column {col!r}: dosage "
                                      f"{measured.loc[subject, col]!r} for subject "
                                      f"{subject!r} is not 0, 1 or 2.")

    def default_preprocessor(self, spec):
        return GenotypeScaler()


register_kind(GenotypeKind)


def _cohort(n: int, seed: int, prefix: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    freq = rng.uniform(0.1, 0.5, 40)
    snps = pd.DataFrame(rng.binomial(2, freq, size=(n, 40)), index=ids,
                        columns=[f"rs{k}" for k in range(40)])
    risk = snps.iloc[:, :4].sum(axis=1) - 4 * freq[:4].sum()
    y = pd.Series((risk + rng.normal(0, 0.4, n) > 0).astype(int), index=ids, name="case")
    clinical = pd.DataFrame({"age": rng.normal(60, 8, n)}, index=ids)
    return snps, clinical, y


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("geno-study")
    snps, clinical, y = _cohort(160, 0, "S")
    snps.to_csv(folder / "snps.geno", sep="\t")
    clinical.to_csv(folder / "clinical.csv")
    y.to_frame().to_csv(folder / "labels.csv")
    spec = {"name": "genotypes", "outcome": {"file": "labels.csv", "column": "case"},
            "modalities": {"snps": {"file": "snps.geno", "kind": "genotype"},
                           "clinical": {"file": "clinical.csv"}},
            "strategies": ["unimodal:snps", "late-mean", "mkl"],
            "cv": {"folds": 3, "repeats": 1, "seed": 0}}
    (folder / "study.yaml").write_text(yaml.safe_dump(spec))
    return folder


def test_the_kind_validates_and_reads_its_own_files(tmp_path):
    snps, _, _ = _cohort(5, 1, "T")
    bad = snps.copy()
    bad.iloc[2, 3] = 3
    with pytest.raises(DataValidationError, match=r"'rs3'.*'T002'"):
        MultiModalData({"snps": bad}, modalities={"snps": "genotype"})
    snps.to_csv(tmp_path / "snps.geno", sep="\t")
    data = read_folder(tmp_path)  # no manifest: the kind claims its file ending
    assert data.kinds == {"snps": "genotype"}
    from medfuse.fusion.registry import info

    assert "genotype" in info("late-mean").kinds and "genotype" in info("intermediate").kinds


def test_benchmark_save_and_predict_end_to_end(study, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["benchmark", str(study / "study.yaml"), "--out",
                                      str(out), "--no-explain"])
    assert result.exit_code == 0, result.output
    res = pd.read_csv(out / "results.csv")
    auc = res[(res.metric == "roc_auc") & (res.split == "cv")].set_index("strategy")["mean"]
    assert auc["unimodal:snps"] > 0.75, auc
    new = tmp_path / "new"
    new.mkdir()
    snps, _, y = _cohort(40, 5, "N")
    snps.to_csv(new / "snps.geno", sep="\t")  # no manifest: kinds come from the model
    env = {**os.environ, "MEDFUSE_PLUGINS": "tests.test_custom_kind",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "medfuse.cli", "predict", str(out / "model"), str(new),
           "--out", str(tmp_path / "pred.csv"),
           "--trust", "tests.test_custom_kind.GenotypeScaler"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    pred = pd.read_csv(tmp_path / "pred.csv", index_col=0)
    assert len(pred) == 40 and set(pred["modalities_used"]) == {"snps"}
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y.loc[pred.index], pred["proba_1"]) > 0.7
    untrusted = subprocess.run(cmd[:-2], capture_output=True, text=True, env=env, cwd=REPO,
                               timeout=300)
    assert untrusted.returncode == 2 and "GenotypeScaler" in untrusted.stdout
