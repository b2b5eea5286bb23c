from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.persist import load_model, read_manifest
from tests import reference_strategies as ref

runner = CliRunner()
# the reference strategies the best model may be, by exact name (trust takes no prefixes)
TRUST = ["--trust", "tests.reference_strategies.MeanLogistic",
         "--trust", "tests.reference_strategies.OneModality"]


def write_study(folder: Path, data, test=None, **over) -> Path:
    folder.mkdir(parents=True, exist_ok=True)

    def dump(d, prefix):
        for m in d.modality_names:
            d.block(m).rename_axis("id").to_csv(folder / f"{prefix}{m}.csv")
        d.obs.rename_axis("id").to_csv(folder / f"{prefix}labels.csv")
        return ({"file": f"{prefix}labels.csv", "column": "label"},
                {m: {"file": f"{prefix}{m}.csv", "kind": str(d.kinds[m])}
                 for m in d.modality_names})

    outcome, mods = dump(data, "")
    study = {"name": "tiny", "outcome": outcome, "modalities": mods,
             "strategies": ["late-mean-ref", "unimodal:rna", "unimodal:imaging"],
             "cv": {"folds": 3, "repeats": 1, "seed": 0}, "seeds": 2}
    if test is not None:
        t_outcome, t_mods = dump(test, "test_")
        study["test"] = {"outcome": t_outcome, "modalities": t_mods}
    study.update(over)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = ref.tiny_cohort(45, seed=5, missing=0.2)
    test = ref.tiny_cohort(24, seed=6, prefix="T")
    study = write_study(root / "study", data, test)
    with ref.registered():
        result = runner.invoke(app, ["benchmark", str(study), "--out", str(root / "out"),
                                     "--no-explain"])
    return root, study, result


def test_benchmark_writes_every_output(run):
    root, _, result = run
    assert result.exit_code == 0, result.output
    out = root / "out"
    for f in ("results.csv", "robustness.csv", "comparison.csv", "report.html"):
        assert (out / f).exists(), f
    res = pd.read_csv(out / "results.csv")
    assert list(res.columns) == ["strategy", "metric", "split", "mean", "sd", "n"]
    assert set(res["split"]) == {"cv", "test"}
    # the default select: best also measures the ensemble and select-best, honestly
    assert set(res["strategy"]) == {"late-mean-ref", "unimodal:rna", "unimodal:imaging",
                                    "ensemble", "select-best"}
    rob = pd.read_csv(out / "robustness.csv")
    assert rob["available"].nunique() == 7
    comp = pd.read_csv(out / "comparison.csv")
    assert {"p_value", "reference"} <= set(comp.columns)
    manifest = read_manifest(out / "model")
    assert manifest["select"] == "best"
    table = {r["strategy"]: r for r in manifest["handed_over"]["select_table"]}
    top = max(table.values(), key=lambda r: r["mean"])
    assert table[manifest["strategy"]]["mean"] >= top["mean"] - top["se"]   # one SE rule
    assert "ranked by CV roc_auc" in result.output
    page = BeautifulSoup((out / "report.html").read_text(), "html.parser")
    assert page.find(id="interpretation") is None  # --no-explain


def test_predict_round_trip_matches_in_memory_model(run, tmp_path):
    root, study, _ = run
    model_dir = root / "out" / "model"
    manifest = read_manifest(model_dir)
    result = runner.invoke(app, ["predict", str(model_dir), str(study), "--out",
                                 str(tmp_path / "p.csv"), *TRUST])
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(tmp_path / "p.csv", index_col=0)
    from medfuse.config import load_study
    from medfuse.data import MultiModalData

    with ref.registered():
        train, test = load_study(study).load()    # its strategies are the reference ones
    both = MultiModalData.concat([train, test])
    with ref.registered():
        from medfuse.fusion import make

        model = make(manifest["strategy"]).fit(train)
    assert len(preds) == len(both)
    np.testing.assert_allclose(preds[["proba_0", "proba_1"]].to_numpy(),
                               model.predict_proba(both), atol=1e-10)
    missing = ~both.available["imaging"].to_numpy()
    assert missing.any()
    used = preds["modalities_used"].to_numpy()
    assert all("imaging" not in u for u in used[missing])
    assert all("imaging" in u for u in used[~missing])


def test_predict_with_a_subset_of_modalities_and_reordered_columns(run, tmp_path):
    root, _, _ = run
    new = ref.tiny_cohort(10, seed=8, prefix="N")
    folder = tmp_path / "new"
    folder.mkdir()
    rna = new.block("rna")
    rna[list(reversed(rna.columns))].to_csv(folder / "rna.csv")  # reordered columns
    new.block("imaging").to_csv(folder / "imaging.csv")
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(folder),
                                 "--out", str(out), *TRUST])
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(out, index_col=0)
    assert set(preds["modalities_used"]) == {"rna+imaging"}
    model = load_model(root / "out" / "model", trust=tuple(TRUST[1::2]))
    expected = model.predict_proba(new.select(["rna", "imaging"]))
    np.testing.assert_allclose(preds[["proba_0", "proba_1"]].to_numpy(), expected)


def test_predict_names_wrong_features(run, tmp_path):
    root, _, _ = run
    new = ref.tiny_cohort(10, seed=8, prefix="N")
    folder = tmp_path / "bad"
    folder.mkdir()
    new.block("rna").rename(columns={"g3": "gene_x"}).to_csv(folder / "rna.csv")
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(folder),
                                 "--out", str(tmp_path / "p.csv"), *TRUST])
    assert result.exit_code == 2
    assert "g3" in result.output and "gene_x" in result.output


def test_predict_refuses_untrusted_model(run, tmp_path):
    root, _, _ = run
    result = runner.invoke(app, ["predict", str(root / "out" / "model"),
                                 str(root / "study" / "study.yaml"), "--out",
                                 str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "which is not trusted" in output and "tests.reference_strategies." in output


def test_resume_from_the_cli_refits_nothing(run):
    root, study, _ = run
    ref.FIT_COUNTS.clear()
    with ref.registered():
        result = runner.invoke(app, ["benchmark", str(study), "--out", str(root / "out"),
                                     "--resume", "--no-explain"])
    assert result.exit_code == 0, result.output
    # only the refit of what is handed over
    assert sum(ref.FIT_COUNTS.values()) == 1


def test_bad_study_file_names_the_field(tmp_path):
    data = ref.tiny_cohort(20, seed=1)
    study = write_study(tmp_path, data, cv={"folds": 0})
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "cv.folds" in result.output


def test_survival_study_end_to_end(tmp_path):
    """A survival study file: benchmark -> c_index tables, report, saved model -> risk."""
    from bs4 import BeautifulSoup

    from medfuse.data import make_cohort

    data = make_cohort(90, effects={"rna": 2.0, "imaging": 0.0, "clinical": 0.5},
                       task="survival", n_genes=60, n_imaging=20, random_state=3)
    study = write_study(tmp_path, data, task="survival",
                        outcome={"file": "labels.csv", "time": "time", "event": "event"},
                        strategies="all", exclude=["unimodal-cox:clinical"])
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    res = pd.read_csv(tmp_path / "o" / "results.csv")
    assert set(res["metric"]) == {"c_index", "td_auc"}
    assert set(res["strategy"]) == {"cox-early", "cox-late", "unimodal-cox:rna",
                                    "unimodal-cox:imaging"}
    c = res[res["metric"] == "c_index"].set_index("strategy")["mean"]
    assert c["unimodal-cox:rna"] > 0.65 and c["unimodal-cox:imaging"] < c["unimodal-cox:rna"]
    rob = pd.read_csv(tmp_path / "o" / "robustness.csv")
    assert "rna+imaging+clinical" in set(rob["available"]) and "imaging" in set(rob["available"])
    comp = pd.read_csv(tmp_path / "o" / "comparison.csv")
    assert set(comp["metric"]) == {"c_index"} and comp["p_value"].notna().all()
    html = (tmp_path / "o" / "report.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("img", alt="Kaplan-Meier curves") is not None
    assert soup.find("img", alt="ROC curves") is None
    assert "c_index" in soup.get_text()
    assert "Which modality drove the predicted risk" in soup.get_text()
    assert soup.find("section", id="interpretation").find("img") is not None
    out = tmp_path / "risk.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "o" / "model"), str(study), "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col=0)
    assert list(table.columns) == ["risk", "modalities_used"]
    assert np.isfinite(table["risk"]).all() and len(table) == len(data)
    model = load_model(tmp_path / "o" / "model")
    np.testing.assert_allclose(table["risk"], model.predict(data), rtol=1e-6)
    explained = tmp_path / "risk-explained.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "o" / "model"), str(study),
                                 "--out", str(explained), "--explain"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(explained, index_col=0)
    shapley = table[[f"shapley_{m}" for m in model.modalities_]].sum(axis=1)
    np.testing.assert_allclose(table["shapley_base"] + shapley, table["risk"], atol=1e-8)


def test_demo_quick(tmp_path, monkeypatch):
    import medfuse.cli.study as cs

    monkeypatch.setattr(cs, "QUICK_STRATEGIES", ("unimodal", "late-mean-ref"))
    with ref.registered():
        result = runner.invoke(app, ["demo", "--quick", "--jobs", "1", "--out",
                                     str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    res = pd.read_csv(tmp_path / "demo" / "results.csv")
    assert set(res["strategy"]) == {"unimodal:expression", "unimodal:clinical",
                                    "late-mean-ref", "ensemble", "select-best"}
    assert (tmp_path / "demo" / "report.html").exists()
    assert read_manifest(tmp_path / "demo" / "model")["modalities"] == ["expression",
                                                                          "clinical"]
