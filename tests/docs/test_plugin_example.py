"""The plugin package of the extending guide (docs/plugin_example) passes the public
conformance checks, and works through the command line as an installed plugin would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medfuse.data.kinds import unregister_kind
from medfuse.fusion.neural.objectives import _TERMS
from medfuse.fusion.registry import _REGISTRY
from medfuse.represent.registry import _REPRESENTATIONS
from medfuse.testing import (
    check_kind,
    check_loss_term,
    check_representation,
    check_strategy,
    example_cohort,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "plugin_example"


@pytest.fixture(scope="module")
def plugin():
    sys.path.insert(0, str(EXAMPLE))
    import medfuse_wearable

    yield medfuse_wearable
    sys.path.remove(str(EXAMPLE))
    sys.modules.pop("medfuse_wearable", None)
    unregister_kind("wearable")
    _REPRESENTATIONS.pop("wearable-summary", None)
    _TERMS.pop("info-nce", None)
    _REGISTRY.pop("late-median", None)


def test_the_example_plugin_passes_every_check(plugin):
    assert len(check_kind("wearable")) == 20
    assert check_representation("wearable-summary",
                                trust=["medfuse_wearable.WearableSummary"])[-1] == \
        "late-mean: benchmark with 2 workers"
    assert check_loss_term("info-nce")[-1] == "benchmark with 2 workers"
    assert check_strategy("late-median", trust=["medfuse_wearable.LateMedian"])[-1] == \
        "benchmark with 2 workers"


def test_the_example_plugin_through_benchmark_and_predict(plugin, tmp_path):
    from medfuse.data import write_folder

    data = example_cohort({"watch": "wearable", "clinical": "clinical"}, 48, missing=0.15,
                          random_state=3)
    write_folder(data, tmp_path / "cohort")
    study = {"outcome": {"file": "cohort/obs.csv", "column": "label"},
             "modalities": {"watch": {"file": "cohort/watch.csv", "kind": "wearable"},
                            "clinical": {"file": "cohort/clinical.csv", "kind": "clinical"}},
             "strategies": ["late-median", "unimodal:watch"],
             "cv": {"folds": 2, "repeats": 1}, "seeds": 1}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    env = {**os.environ, "MEDFUSE_PLUGINS": "medfuse_wearable",
           "PYTHONPATH": os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")])}
    medfuse = [sys.executable, "-m", "medfuse.cli"]
    run = subprocess.run([*medfuse, "benchmark", str(tmp_path / "study.yaml"), "--out",
                          str(tmp_path / "out"), "--jobs", "2", "--no-explain"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "wearable" in run.stdout and "late-median" in run.stdout
    new = tmp_path / "new"
    write_folder(example_cohort({"watch": "wearable", "clinical": "clinical"}, 10,
                                random_state=4).select(["watch", "clinical"]), new)
    (new / "medfuse.json").unlink()
    (new / "obs.csv").unlink()
    run = subprocess.run([*medfuse, "predict", str(tmp_path / "out" / "model"), str(new),
                          "--out", str(tmp_path / "p.csv"), "--trust",
                          "medfuse_wearable.LateMedian"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "wrote 10 predictions" in run.stdout
