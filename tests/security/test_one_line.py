"""Every failure is one clear line: damaged cache entries and failure markers are recomputed
with a warning, names from files never act on the terminal or the report, and text that a
spreadsheet would run as a formula is escaped in the CSV outputs."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.cli._common import console
from medfuse.data import MultiModalData
from medfuse.evaluate import run_benchmark
from medfuse.fusion import make
from medfuse.persist import save_model
from tests.security.crafting import attribute, json_value, rewrite_archive

runner = CliRunner()
ESC = "\x1b"


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


def cohort_with(names: dict, labels=("no", "yes"), n: int = 40, ids=None):
    """Two modalities under the given names (``{"a": ..., "b": ...}``), outcome classes
    ``labels`` and subject ``ids``."""
    rng = np.random.default_rng(0)
    ids = ids or [f"s{i:02d}" for i in range(n)]
    y = np.array([labels[i % 2] for i in range(n)], dtype=object)
    shift = (np.arange(n) % 2)[:, None]
    blocks = {names["a"]: pd.DataFrame(rng.normal(size=(n, 3)) + shift, index=ids,
                                       columns=["x1", "x2", "x3"]),
              names["b"]: pd.DataFrame(rng.normal(size=(n, 2)) + shift, index=ids,
                                       columns=["z1", "z2"])}
    return MultiModalData(blocks, obs=pd.DataFrame({"label": y}, index=ids), outcome="label")


def write_study(data: MultiModalData, root, **over):
    for i, m in enumerate(data.modality_names):
        data.block(m).to_csv(root / f"m{i}.csv")
    data.obs.to_csv(root / "labels.csv")
    spec = {"outcome": {"file": "labels.csv", "column": "label"},
            "modalities": {m: {"file": f"m{i}.csv"} for i, m in
                           enumerate(data.modality_names)},
            "strategies": ["late-mean"], "cv": {"folds": 2, "repeats": 1}, "seeds": 1}
    spec.update(over)
    (root / "study.yaml").write_text(yaml.safe_dump(spec))
    return root / "study.yaml"


# ---------------------------------------------------------------------- terminal
def test_markup_in_names_is_shown_as_written(tmp_path):
    data = cohort_with({"a": "rna[/x]", "b": "[bold red]clin"})
    study = write_study(data, tmp_path)
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(tmp_path / "o"),
                                 "--no-explain"])
    assert result.exit_code == 0, result.output
    assert "rna[/x]" in result.output and "[bold red]clin" in result.output
    info = runner.invoke(app, ["info", str(study)])
    assert info.exit_code == 0 and "rna[/x]" in info.output


@pytest.mark.parametrize("code", ["\x1b[2J", "\x1b]52;c;ZXZpbA==\x07", "\x1b]0;pwned\x07",
                                  "\x9b31m", "\x07\x08"])
def test_terminal_control_codes_in_names_never_reach_the_terminal(tmp_path, code):
    data = cohort_with({"a": f"rna{code}", "b": "clin"}, labels=(f"no{code}", "yes"))
    study = write_study(data, tmp_path)
    result = runner.invoke(app, ["info", str(study)])
    assert result.exit_code == 0, result.output
    shown = result.output
    assert ESC not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "rna" in shown


def test_the_console_keeps_its_own_colours_only():
    from medfuse.cli._common import _strip

    assert _strip(f"{ESC}[31mred{ESC}[0m") == f"{ESC}[31mred{ESC}[0m"
    assert _strip(f"a{ESC}[2Jb{ESC}]0;t\x07c\x00d") == "abcd"
    assert console.file is not None


def test_escape_codes_in_a_weights_header_are_not_printed(neural, cohort, tmp_path):
    from safetensors.torch import load_file, save_file

    weights = load_file(neural / "module.safetensors")
    name = next(iter(weights))
    weights[f"{ESC}]0;pwned{ESC}\\{name}"] = weights.pop(name)
    save_file(weights, neural / "module.safetensors")
    from tests.security.crafting import refresh_digests

    refresh_digests(neural)
    from medfuse.data import write_folder

    subjects = write_folder(cohort[:4].select(["rna", "imaging"]), tmp_path / "subjects")
    result = runner.invoke(app, ["predict", str(neural), str(subjects), "--out",
                                 str(tmp_path / "p.csv")])
    line = error_line(result)
    assert ESC not in result.output and "unexpected tensors" in line


# ---------------------------------------------------------------------- damaged state
def _first_run(tmp_path):
    data = cohort_with({"a": "rna", "b": "clin"})
    study = write_study(data, tmp_path)
    out = tmp_path / "o"
    assert runner.invoke(app, ["benchmark", str(study), "--out", str(out),
                               "--no-explain"]).exit_code == 0
    return study, out


@pytest.mark.parametrize("damage", ["1e400", "nested", "not-utf8", "huge-number-key"])
def test_a_damaged_cache_entry_is_recomputed_with_a_warning(tmp_path, damage):
    study, out = _first_run(tmp_path)
    entry = next((out / "cache").glob("*.json"))
    record = json.loads(entry.read_text())
    if damage == "1e400":
        text = json.dumps(record).replace(str(record["fit_seconds"]), "1e400", 1)
    elif damage == "nested":
        text = "[" * 100000 + "]" * 100000
    elif damage == "not-utf8":
        entry.write_bytes(b"\xff\xfe\x00garbage")
        text = None
    else:
        record["weights"] = {"late": {"rna": 1e400}}
        text = json.dumps(record)
    if text is not None:
        entry.write_text(text)
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(out), "--resume",
                                 "--no-explain"])
    assert result.exit_code == 0, result.output
    assert "Ignoring the cached result" in result.output and entry.name in result.output
    assert "Traceback" not in result.output


def test_a_deeply_nested_failure_marker_is_retried_with_a_warning(tmp_path):
    study, out = _first_run(tmp_path)
    key = next((out / "cache").glob("*.json")).stem
    (out / "cache" / f"{key}.json").unlink()
    (out / "cache" / f"{key}.failed.json").write_text("{" + '"a":' * 50000 + "1"
                                                        + "}" * 50000)
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(out), "--resume",
                                 "--no-explain"])
    assert result.exit_code == 0, result.output
    assert "Ignoring the failure marker" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("attribute_name, value", [("modalities_", 5),
                                                   ("classes_", "not classes"),
                                                   ("feature_names_", [1, 2])])
def test_model_attributes_of_the_wrong_type_are_one_error_line(saved, cohort, tmp_path,
                                                               attribute_name, value):
    from medfuse.data import write_folder

    rewrite_archive(saved, lambda s: attribute(s, attribute_name).update(json_value(value)))
    subjects = write_folder(cohort[:4], tmp_path / "subjects")
    result = runner.invoke(app, ["predict", str(saved), str(subjects), "--out",
                                 str(tmp_path / "p.csv")])
    line = error_line(result)
    assert str(saved) in line


# ---------------------------------------------------------------------- outputs
def test_formula_text_is_escaped_in_predictions_and_tables(tmp_path):
    ids = [f"=HYPERLINK(\"http://evil/{i}\")" if i < 3 else f"s{i:02d}" for i in range(40)]
    data = cohort_with({"a": "rna", "b": "clin"}, labels=("+1", "@SUM(A1)"), ids=ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make("late-mean").fit(data)
    folder = save_model(model, tmp_path / "model")
    new = tmp_path / "new"
    new.mkdir()
    for m in data.modality_names:
        data.block(m).to_csv(new / f"{m}.csv")
    assert runner.invoke(app, ["predict", str(folder), str(new), "--out",
                               str(tmp_path / "p.csv")]).exit_code == 0
    text = (tmp_path / "p.csv").read_text()
    cells = [row.split(",")[0] for row in text.splitlines()[1:]]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert "'=HYPERLINK" in text and "'+1" in text and "'@SUM(A1)" in text
    assert "proba_+1" in text.splitlines()[0]  # a name that does not start a formula
    raw = runner.invoke(app, ["predict", str(folder), str(new), "--out",
                              str(tmp_path / "raw.csv"), "--raw-csv"])
    assert raw.exit_code == 0
    table = pd.read_csv(tmp_path / "raw.csv", index_col=0)
    assert table.index[0] == ids[0] and "proba_+1" in table.columns
    numbers = pd.read_csv(tmp_path / "p.csv", index_col=0)
    assert np.allclose(numbers.filter(like="proba").sum(axis=1), 1.0)


def test_formula_text_is_escaped_in_the_benchmark_tables(tmp_path):
    data = cohort_with({"a": "=cmd|' /C calc'!A0", "b": "clin"})
    study = write_study(data, tmp_path)
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(tmp_path / "o"),
                                 "--no-explain"])
    assert result.exit_code == 0, result.output
    robustness = (tmp_path / "o" / "robustness.csv").read_text()
    assert "=cmd" in robustness and not re.search(r"(^|,)=cmd", robustness)


def test_html_in_names_is_escaped_in_the_report(tmp_path):
    data = cohort_with({"a": "<script>alert(1)</script>", "b": "clin"},
                       labels=("<img src=x onerror=alert(2)>", "yes"))
    out = tmp_path / "o"
    from medfuse.study import run_study

    run_study(data, None, out, strategies=["late-mean"], folds=2, repeats=1, explain=True)
    page = (out / "report.html").read_text()
    soup = BeautifulSoup(page, "html.parser")
    assert not [s for s in soup.find_all("script") if "alert(1)" in s.get_text()]
    assert not soup.find_all("img", attrs={"onerror": True})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_run_benchmark_results_keep_raw_names(tmp_path):
    """The Python API is not escaped: only files meant for spreadsheets are."""
    data = cohort_with({"a": "=a", "b": "b"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_benchmark(data, ["late-mean"], folds=2, repeats=1)
    assert "=a" in set(result.robustness()["available"].str.split("+").explode())
