"""``budget:`` in the study file and ``--budget`` / ``--retry-failed`` on the command line."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.config import StudyError, parse_study
from tests import reference_strategies as ref
from tests.slow_strategies import registered
from tests.test_cli_study import write_study

runner = CliRunner()


def test_the_study_file_budget_is_validated():
    base = {"outcome": {"file": "y.csv", "column": "y"},
            "modalities": {"rna": {"file": "rna.csv"}}}
    assert parse_study(base).budget == 1800
    assert parse_study({**base, "budget": 90}).budget == 90
    assert parse_study({**base, "budget": None}).budget is None
    for bad in (0, -5, "soon"):
        with pytest.raises(StudyError, match="budget"):
            parse_study({**base, "budget": bad})


def test_a_strategy_over_budget_is_left_out_and_a_larger_budget_retries_it(tmp_path):
    data = ref.tiny_cohort(45, seed=5, missing=0.2)
    study = write_study(tmp_path / "study", data, strategies=["sleepy", "late-mean-ref"],
                        params={"sleepy": {"seconds": 300}}, budget=2, robustness=False,
                        select="late-mean-ref")
    out = tmp_path / "out"
    args = ["benchmark", str(study), "--out", str(out), "--no-explain", "--jobs", "1"]
    with registered():
        first = runner.invoke(app, args)
    text = " ".join(first.output.split())
    assert first.exit_code == 0, first.output
    assert ("warning: strategy sleepy failed and is left out: sleepy: fit on split r0f0 "
            "exceeded the 2 s budget; raise budget: in the study file (or --budget) or "
            "exclude the strategy") in text
    assert set(pd.read_csv(out / "results.csv")["strategy"]) == {"late-mean-ref"}

    with registered():  # --budget overrides the study file; larger: the fit is retried
        again = runner.invoke(app, [*args, "--resume", "--budget", "3"])
    text = " ".join(again.output.split())
    assert again.exit_code == 0, again.output
    assert "sleepy: fit on split r0f0 exceeded the 3 s budget" in text
    assert "earlier run" not in text
    assert text.endswith("; 3 of 6 fits reused from the cache")
