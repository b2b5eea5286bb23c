"""The CLI skeleton."""

from __future__ import annotations

from typer.testing import CliRunner

import medfuse
from medfuse.cli import app
from medfuse.data import make_cohort, write_folder

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and medfuse.__version__ in result.output


def test_info_on_rosmap(rosmap_path):
    result = runner.invoke(app, ["info", str(rosmap_path)])
    assert result.exit_code == 0, result.output
    assert "351 subjects x 3 modalities" in result.output
    for m in ("mrna", "methylation", "mirna"):
        assert m in result.output


def test_info_on_folder_and_bad_path(tmp_path):
    write_folder(make_cohort(30, missing={"imaging": 0.5}, random_state=0), tmp_path / "c")
    result = runner.invoke(app, ["info", str(tmp_path / "c")])
    assert result.exit_code == 0 and "rna + clinical" in result.output
    bad = runner.invoke(app, ["info", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "No such folder" in bad.output


def test_info_diagnoses_missingness(tmp_path):
    cohort = make_cohort(200, missing={"imaging": 0.3}, n_genes=40, missing_mechanism="MAR",
                         random_state=0)
    write_folder(cohort, tmp_path / "c")
    result = runner.invoke(app, ["info", str(tmp_path / "c"), "--outcome", "label"])
    assert result.exit_code == 0, result.output
    assert "Little's test rejects MCAR" in result.output
    assert "imaging missing for" in result.output and "predictable" in result.output
    assert "outcome per availability pattern:" in result.output
