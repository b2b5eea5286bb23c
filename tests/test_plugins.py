"""Plugins through the command line: one clear line for a module that cannot be imported,
``medfuse plugins`` listing what each registered, a plugin kind that claims ``.csv`` files
by their header, and ``medfuse info`` on a study file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data import read_folder
from medfuse.data.kinds import unregister_kind
from medfuse.fusion.neural.objectives import _TERMS
from medfuse.fusion.registry import _REGISTRY
from medfuse.represent.registry import _REPRESENTATIONS

runner = CliRunner()

#: the extending guide's plugin package (a long-format wearable kind claimed by its header,
#: a representation, a loss term, a strategy)
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "plugin_example"


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("import numpy\nraise RuntimeError('no key')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield tmp_path
    for module in ("medfuse_wearable", "broken_plugin"):
        sys.modules.pop(module, None)
    unregister_kind("wearable")
    _REPRESENTATIONS.pop("wearable-summary", None)
    _TERMS.pop("info-nce", None)
    _REGISTRY.pop("late-median", None)


def test_a_plugin_that_cannot_be_imported_is_one_error_line(plugin_dir):
    """Bug 4: a MEDFUSE_PLUGINS entry that could not be imported ended every command with a
    traceback that never named the variable."""
    for module, cause in (("no_such_plugin", "ModuleNotFoundError"),
                          ("broken_plugin", "RuntimeError: no key")):
        result = runner.invoke(app, ["info", str(plugin_dir)],
                               env={"MEDFUSE_PLUGINS": f"medfuse_wearable, {module}"})
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: plugin module")
        assert f"'{module}'" in lines[0] and "MEDFUSE_PLUGINS" in lines[0]
        assert cause in lines[0] and "Traceback" not in result.output


def test_medfuse_plugins_lists_what_each_plugin_registered(plugin_dir):
    result = runner.invoke(app, ["plugins"], env={"MEDFUSE_PLUGINS": "medfuse_wearable"})
    assert result.exit_code == 0, result.output
    assert "medfuse_wearable (MEDFUSE_PLUGINS)" in result.output
    assert "kinds: wearable" in result.output
    assert "strategies: late-median" in result.output
    assert "representations: wearable-summary" in result.output
    assert "loss terms: info-nce" in result.output
    empty = runner.invoke(app, ["plugins"], env={"MEDFUSE_PLUGINS": ""})
    assert empty.exit_code == 0 and "no plugin modules" in empty.output


def _long_table(path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(f"s{i}", t, ch, float(rng.normal())) for i in range(n)
            for t in range(5 + i) for ch in ("hr", "steps")]
    pd.DataFrame(rows, columns=["subject", "time", "channel", "value"]).to_csv(path,
                                                                             index=False)


def test_a_plugin_kind_of_higher_priority_claims_csv_files_by_their_header(plugin_dir):
    import medfuse_wearable  # noqa: F401  (registers the kind)

    folder = plugin_dir / "cohort"
    folder.mkdir()
    _long_table(folder / "watch.csv")
    pd.DataFrame({"age": [50, 60, 70, 40, 30, 20]},
                 index=pd.Index([f"s{i}" for i in range(6)], name="id")).to_csv(
        folder / "clinical.csv")
    data = read_folder(folder)
    assert data.kinds["watch"] == "wearable"  # its header is the long layout
    assert data.kinds["clinical"] == "continuous"  # an ordinary table stays continuous
    assert data.block("watch").shapes[5] == (2, 10)


def test_info_accepts_a_study_file(tmp_path):
    from medfuse.data import make_cohort

    data = make_cohort(40, n_genes=10, n_imaging=5, random_state=0)
    for m in data.modality_names:
        data.block(m).to_csv(tmp_path / f"{m}.csv")
    clinical = data.block("clinical").assign(site=np.where(np.arange(40) % 2, "A", "B"))
    clinical.to_csv(tmp_path / "clinical.csv")
    data.obs.to_csv(tmp_path / "labels.csv")
    study = {"outcome": {"file": "labels.csv", "column": "label"},
             "modalities": {m: {"file": f"{m}.csv", "kind": str(data.kinds[m])}
                            for m in data.modality_names},
             "batch": {"file": "clinical.csv", "column": "site"}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    result = runner.invoke(app, ["info", str(tmp_path / "study.yaml")])
    assert result.exit_code == 0, result.output
    assert "40" in result.output and "clinical" in result.output
    assert "'site' (batch)" in result.output and "not a feature" in result.output
