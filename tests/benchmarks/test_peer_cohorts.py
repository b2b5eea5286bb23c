"""benchmarks/peer_cohorts.py, peer_diablo.py and the AutoGluon builder: the cohorts' set-up,
the parsing of DIABLO's R output and the notes of missing peers (no R, no AutoGluon needed)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
peers = importlib.import_module("peers")
peer_tools = importlib.import_module("peer_tools")
peer_cohorts = importlib.import_module("peer_cohorts")
peer_diablo = importlib.import_module("peer_diablo")


def _toy(n: int = 12) -> peers.PeerDataset:
    """Two views, three classes; one column of view "b" is constant."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    b = np.column_stack([rng.normal(size=n), np.ones(n)])
    return peers.PeerDataset("toy", None, {"a": rng.normal(size=(n, 3)), "b": b}, y,
                             np.array(["x", "y", "z"]))


# ------------------------------------------------------------------------ nutrimouse
def test_nutrimouse_loader_has_40_mice_5_diets_2_modalities():
    pytest.importorskip("mvlearn")
    ds = peer_cohorts.nutrimouse_dataset()
    assert len(ds) == 40
    assert ds.classes.tolist() == ["coc", "fish", "lin", "ref", "sun"]
    assert np.bincount(ds.y).tolist() == [8] * 5
    assert {k: v.shape for k, v in ds.views.items()} == {"gene": (40, 120), "lipid": (40, 21)}
    assert ds.data.modality_names == ["gene", "lipid"]


def test_nutrimouse_data_from_a_bunch():
    rng = np.random.default_rng(1)
    bunch = {"gene": rng.normal(size=(10, 4)), "lipid": rng.normal(size=(10, 2)),
             "gene_feature_names": list("abcd"), "lipid_feature_names": ["c14", "c16"],
             "diet": np.arange(10) % 5, "diet_names": np.array(["coc", "fish", "lin", "ref",
                                                                "sun"]),
             "genotype": np.arange(10) % 2, "genotype_names": np.array(["ppar", "wt"])}
    ds = peers.make_dataset("nutrimouse", peer_cohorts.nutrimouse_data(bunch))
    assert ds.classes.tolist() == ["coc", "fish", "lin", "ref", "sun"]
    assert ds.y.tolist() == (np.arange(10) % 5).tolist()
    assert [v.shape for v in ds.views.values()] == [(10, 4), (10, 2)]
    assert "genotype" not in ds.data.block("gene").columns


# ------------------------------------------------------------------------------- ALL
def _all_export() -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"p{i}" for i in range(8)]
    pheno = pd.DataFrame({
        "BT": ["B2", "B", "B4", "T2", "B1", "B3", "B2", "B2"],
        "mol.biol": ["BCR/ABL", "NEG", "NEG", "NEG", "BCR/ABL", "E2A/PBX1", "NEG", "BCR/ABL"],
        "age": [50, 20, 30, 25, 45, 33, np.nan, 61],
        "sex": ["M", "F", "M", "F", "F", "M", "M", "F"],
        "mdr": ["NEG", "POS", None, "NEG", "NEG", "NEG", "POS", "NEG"],
        "kinet": ["dyploid", "hyperd.", "dyploid", None, "dyploid", "dyploid", "dyploid", None],
        "t(9;22)": [True, False, False, False, True, False, False, True],
        "relapse": [True, False, True, False, False, True, False, True],
    }, index=ids)
    rng = np.random.default_rng(2)
    expression = pd.DataFrame(rng.normal(size=(8, 4)) * [0.1, 3.0, 1.0, 2.0],
                              index=ids, columns=["q1", "q2", "q3", "q4"])
    return expression, pheno


def test_all_cohort_outcome_probes_and_clinical_columns():
    expression, pheno = _all_export()
    data = peer_cohorts.all_data(expression, pheno, probes=2)
    # B-lineage, BCR/ABL or NEG, age known: p0, p1, p2, p4, p7
    assert list(data.obs.index) == ["p0", "p1", "p2", "p4", "p7"]
    assert data.y.tolist() == [1, 0, 0, 1, 1]
    kept = expression.loc[["p0", "p1", "p2", "p4", "p7"]].var()
    assert list(data.block("expression").columns) == sorted(kept.nlargest(2).index)
    clinical = data.block("clinical")
    assert list(clinical.columns) == list(peer_cohorts.ALL_CLINICAL)
    assert clinical["stage"].isna().tolist() == [False, True, False, False, False]
    assert list(clinical["stage"].cat.categories) == list(peer_cohorts.ALL_STAGES)
    ds = peers.make_dataset("ALL", data)
    assert ds.classes.tolist() == [0, 1]


def test_all_without_r_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(peer_cohorts.shutil, "which", lambda _: None)
    with pytest.raises(peer_cohorts.CohortUnavailable, match="r-bioc-all"):
        peer_cohorts.all_dataset(tmp_path / "ALL")


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="nutrimouse"):
        peers.main(["--datasets", "nosuch", "--tools", "sklearn", "--out", str(tmp_path)])


# --------------------------------------------------------------------------- DIABLO
def test_diablo_scores_are_put_in_class_order_and_argmax_is_the_vote():
    frame = pd.DataFrame({"k2": [0.1, 0.5, 0.2, 0.0], "vote": ["k0", "k1", "k2", "k1"],
                          "k0": [0.7, 0.3, -0.2, 0.0], "k1": [0.2, 0.4, 0.5, 0.0]})
    proba, raised = peer_diablo.parse_scores(frame, 3)
    assert proba.shape == (4, 3)
    assert np.allclose(proba.sum(axis=1), 1)
    # row 0 agrees with its vote: only renormalised, columns k0, k1, k2
    assert np.allclose(proba[0], [0.7, 0.2, 0.1])
    # row 2: negative score clipped to 0, argmax k1 but vote k2: k2 raised just above k1
    assert proba[2, 0] == 0 and proba[2, 2] > proba[2, 1]
    # row 3: all zero scores, uniform, then the vote k1 made the maximum
    assert proba[3].argmax() == 1
    assert proba.argmax(axis=1).tolist() == [0, 1, 2, 1]
    assert raised == 3
    # the order of the classes that were not moved is kept (row 1: k2 > k0 before and after)
    assert proba[1, 2] > proba[1, 0]


def test_diablo_inputs_are_scaled_on_training_subjects_without_constant_columns(tmp_path):
    ds = _toy()
    split = peers.cv_splits("toy", ds.y, 2, [0])[0]
    blocks = peer_diablo.write_inputs(ds, split, tmp_path)
    assert blocks == ["b1", "b2"]
    train = pd.read_csv(tmp_path / "train_b2.csv")
    assert train.shape == (len(split.train), 1)
    assert np.allclose(train.mean(), 0) and np.allclose(train.std(ddof=0), 1)
    assert pd.read_csv(tmp_path / "test_b1.csv").shape == (len(split.test), 3)
    assert (tmp_path / "levels.txt").read_text().split() == ["k0", "k1", "k2"]
    assert pd.read_csv(tmp_path / "y.csv")["y"].tolist() == [f"k{k}" for k in
                                                             ds.y[split.train]]


def test_diablo_note_names_the_blocks():
    meta = pd.DataFrame({"key": ["ncomp", "keepX.b1", "keepX.b2", "weight.b1", "weight.b2"],
                         "value": ["2", "5/10", "4/4", "0.8", "0.6"]})
    note = peer_diablo.describe(meta, ["expression", "clinical"], ["b1", "b2"], 1, 9)
    assert note.startswith("ncomp 2; expression keepX 5/10 w 0.8; clinical keepX 4/4")
    assert note.endswith("1/9")


def test_mixomics_without_r_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(peer_tools.shutil, "which", lambda _: None)
    found, notes = peer_tools.contenders("mixomics", [_toy()])
    assert found == [] and notes[0].startswith("skipped: Rscript")


# ------------------------------------------------------------------------ AutoGluon
def test_autogluon_missing_gives_notes_not_an_exception(monkeypatch):
    monkeypatch.setitem(sys.modules, "autogluon", None)
    monkeypatch.setitem(sys.modules, "autogluon.tabular", None)
    found, notes = peer_tools.contenders("autogluon", [_toy()])
    assert found == []
    assert notes[0].startswith("skipped:") and "autogluon" in notes[0]


def test_autogluon_time_limit_follows_quick_and_the_argument():
    pytest.importorskip("autogluon.tabular")
    _, quick = peer_tools.contenders("autogluon", [_toy()], quick=True)
    _, full = peer_tools.contenders("autogluon", [_toy()])
    _, given = peer_tools.contenders("autogluon", [_toy()], quick=True, autogluon_seconds=7)
    assert "time_limit 30 s" in quick[0] and "time_limit 120 s" in full[0]
    assert "time_limit 7 s" in given[0]
