"""benchmarks/peers.py: shared splits, scoring, the constant-prediction counter and the table,
on tiny synthetic cases (no peer library needed)."""

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


def _dataset(n: int = 60, seed: int = 0) -> peers.PeerDataset:
    """Two views; class 1 shifts the first feature of view "a" by 8 (separable)."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    a = rng.normal(size=(n, 3))
    a[:, 0] += 8 * y
    b = rng.normal(size=(n, 2))
    return peers.PeerDataset("toy", None, {"a": a, "b": b}, y, np.array(["no", "yes"]))


def test_constant_predictor_is_counted_and_scored_as_chance():
    y = np.array([0, 0, 0, 1, 1])
    proba = np.tile([0.7, 0.3], (5, 1))
    s = peers.score_fit(y, proba, 2)
    assert s["constant"] is True
    assert s["accuracy"] == pytest.approx(0.6)
    assert s["f1"] == 0.0
    assert s["roc_auc"] == pytest.approx(0.5)
    varied = peers.score_fit(y, np.column_stack([1 - y * 0.8, y * 0.8]), 2)
    assert varied["constant"] is False
    assert varied["accuracy"] == 1.0 and varied["roc_auc"] == 1.0


def test_multiclass_scores_use_macro_f1():
    y = np.array([0, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 2, 1]] * 0.8 + 0.2 / 3
    s = peers.score_fit(y, proba, 3)
    assert s["accuracy"] == pytest.approx(0.75)
    # per-class F1: 1, 2/3, 2/3
    assert s["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_cv_and_fixed_splits_partition_the_subjects():
    y = np.repeat([0, 1], [20, 10])
    splits = peers.cv_splits("toy", y, 5, [0, 1])
    assert len(splits) == 10
    for seed in (0, 1):
        tests = np.concatenate([s.test for s in splits if s.seed == seed])
        assert sorted(tests) == list(range(30))
        for s in splits:
            assert not set(s.train) & set(s.test)
            assert y[s.test].sum() == 2  # stratified: 10 positives over 5 folds
    assert peers.cv_splits("toy", y, 5, [0])[0].test.tolist() == splits[0].test.tolist()
    fixed = peers.fixed_splits("toy", 30, np.arange(20, 30), [0, 1, 2])
    assert [s.seed for s in fixed] == [0, 1, 2]
    assert all(s.test.tolist() == list(range(20, 30)) for s in fixed)
    assert all(s.train.tolist() == list(range(20)) for s in fixed)


def test_every_tool_sees_identical_test_indices():
    ds = _dataset()
    splits = peers.cv_splits("toy", ds.y, 3, [0, 1])
    seen: dict[str, list] = {"one": [], "two": []}

    def recorder(tool):
        def fit_predict(d, split, seed):
            seen[tool].append((seed, split.fold, split.test.tolist()))
            return np.tile([0.5, 0.5], (len(split.test), 1))
        return fit_predict

    rows = []
    for tool in seen:
        got, wall = peers.run_tool([peers.Contender(tool, "m", recorder(tool))], [ds], splits)
        rows += got
        assert wall >= 0
    assert seen["one"] == seen["two"] and len(seen["one"]) == 6
    runs = pd.DataFrame(rows)
    assert peers.shared_test_sets(runs)
    tampered = runs.copy()
    tampered.loc[0, "test_digest"] = "different"
    assert not peers.shared_test_sets(tampered)


def test_table_means_folds_then_seeds_and_counts_constant_and_failed_fits():
    ds = _dataset()
    splits = peers.cv_splits("toy", ds.y, 2, [0, 1])

    def always_no(d, split, seed):
        return np.tile([0.9, 0.1], (len(split.test), 1))

    def broken(d, split, seed):
        raise ValueError("this peer breaks")

    contenders = [peers.Contender("fake", "always no", always_no),
                  peers.Contender("fake", "broken", broken)]
    contenders += peer_tools.sklearn_baselines([ds])[0][:1]
    rows, _ = peers.run_tool(contenders, [ds], splits)
    runs = pd.DataFrame(rows)
    table = peers.summary_table(runs, ["toy"]).set_index("model")
    assert table.loc["always no", "constant fits"] == "4/4"
    assert table.loc["always no", "toy ACC"] == "0.500 ± 0.000"
    assert table.loc["broken", "failed fits"] == 4
    assert table.loc["broken", "toy ACC"] == "failed"
    # well separated classes: the logistic baseline is near perfect and never constant
    assert float(table.loc["concat logistic (CV)", "toy ACC"].split(" ± ")[0]) > 0.95
    assert table.loc["concat logistic (CV)", "constant fits"] == "0/4"
    assert peers.constant_models(runs) == ["fake/always no on toy"]
    assert runs.loc[runs["model"] == "broken", "error"].str.contains("this peer").all()
    text = peers.markdown(table.reset_index())
    assert text.splitlines()[0].startswith("| model | tool | toy ACC")
    assert len(text.splitlines()) == 2 + len(table)


def test_sd_is_over_seeds_of_fold_means():
    runs = pd.DataFrame({
        "tool": "t", "model": "m", "dataset": "d", "seed": [0, 0, 1, 1],
        "fold": [0, 1, 0, 1], "accuracy": [0.6, 0.8, 0.9, 0.9], "f1": 0.5,
        "roc_auc": 0.5, "constant": False, "error": "", "seconds": 1.0})
    table = peers.summary_table(runs, ["d"])
    # seed means 0.7 and 0.9: mean 0.8, sd (ddof 1) 0.1414
    assert table.loc[0, "d ACC"] == "0.800 ± 0.141"
    assert table.loc[0, "fit s"] == 4.0


def test_numeric_view_one_hot_encodes_categories():
    block = pd.DataFrame({"age": [40.0, 50.0, 60.0],
                          "er": pd.Categorical(["neg", "pos", None])})
    view = peers.numeric_view(block)
    assert view.tolist() == [[40.0, 1.0, 0.0], [50.0, 0.0, 1.0], [60.0, 0.0, 0.0]]


def test_a_missing_peer_is_skipped_with_a_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "fusilli", None)
    monkeypatch.setitem(sys.modules, "fusilli.utils", None)
    monkeypatch.setitem(sys.modules, "fusilli.utils.model_chooser", None)
    monkeypatch.setitem(sys.modules, "mvlearn", None)
    peer_tools._fusilli_classes.cache_clear()
    try:
        for tool in ("fusilli", "mvlearn"):
            found, notes = peer_tools.contenders(tool, [_dataset()])
            assert found == []
            assert notes[0].startswith("skipped:") and tool in notes[0]
    finally:
        peer_tools._fusilli_classes.cache_clear()


def test_medfuse_contenders_cover_the_registry_per_dataset():
    from medfuse.data import make_cohort
    from medfuse.fusion import strategy_names

    data = make_cohort(40, random_state=0)
    ds = peers.make_dataset("sim", data)
    found, _ = peer_tools.contenders("medfuse", [ds])
    # every strategy but the ensemble, which the handed-over contenders measure
    assert [c.model for c in found] == [n for n in strategy_names(data.modality_names)
                                        if n != "ensemble"]
    assert all(c.applies_to("sim") and not c.applies_to("other") for c in found)


def test_best_peer_leaves_out_constant_predictors():
    def rows(tool, model, accs, constant):
        return [{"tool": tool, "model": model, "dataset": "d", "seed": s, "fold": 0,
                 "accuracy": a, "f1": 0.0, "roc_auc": 0.5, "constant": constant,
                 "error": "", "seconds": 2.0} for s, a in enumerate(accs)]

    runs = pd.DataFrame(rows("p", "majority", [0.9, 0.9], True)
                        + rows("p", "real", [0.7, 0.8], False)
                        + rows("q", "other", [0.6, 0.6], False))
    name, value, seconds = peers.best_row(runs, "d", "accuracy", ["p", "q"])
    assert name == "p/real" and value == pytest.approx(0.75) and seconds == 2.0
    assert peers.best_row(runs, "d", "accuracy", ["none"]) is None


def test_rebuild_puts_seeds_from_several_runs_together(tmp_path, capsys):
    def write(folder, seeds, wall):
        folder.mkdir()
        pd.DataFrame({"tool": "t", "model": "m", "dataset": "d", "seed": seeds, "fold": 0,
                      "accuracy": 0.5, "f1": 0.5, "roc_auc": 0.5, "constant": False,
                      "error": "", "note": "", "seconds": 1.0, "test_digest": "x"}
                     ).to_csv(folder / "runs.csv", index=False)
        pd.Series({"t": wall}, name="wall_s").rename_axis("tool").to_csv(folder / "walls.csv")

    write(tmp_path / "a", [0], 10.0)
    write(tmp_path / "b", [1, 2], 20.0)
    runs = peers.rebuild([tmp_path / "a", tmp_path / "b"])
    assert sorted(runs["seed"]) == [0, 1, 2]
    assert "t 30 s (3 splits)" in capsys.readouterr().out


def test_rebuild_drops_the_wall_time_of_a_run_whose_fits_were_all_replaced(tmp_path, capsys):
    def write(folder, seeds, wall, accuracy):
        folder.mkdir()
        pd.DataFrame({"tool": "t", "model": "m", "dataset": "d", "seed": seeds, "fold": 0,
                      "accuracy": accuracy, "f1": 0.5, "roc_auc": 0.5, "constant": False,
                      "error": "", "note": "", "seconds": 1.0, "test_digest": "x"}
                     ).to_csv(folder / "runs.csv", index=False)
        pd.Series({"t": wall}, name="wall_s").rename_axis("tool").to_csv(folder / "walls.csv")

    write(tmp_path / "old", [0, 1], 10.0, 0.5)
    write(tmp_path / "new", [0, 1], 40.0, 0.9)
    runs = peers.rebuild([tmp_path / "old", tmp_path / "new"])
    assert runs["accuracy"].tolist() == [0.9, 0.9]
    assert "t 40 s (2 splits)" in capsys.readouterr().out
