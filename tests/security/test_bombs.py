"""Inputs that declare more than they hold are refused before anything is allocated: each
bomb is given to ``medfuse predict`` (or ``benchmark``) under a 2 GB address-space limit and
must end in one error line naming the file and member (exit 2), never in an allocation.

``benchmarks/security_bombs.py`` measures the time and peak memory of each refusal."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from medfuse.data import MultiModalData
from medfuse.fusion import make
from medfuse.persist import save_model
from tests.security import bombs


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr[-2000:])
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    """A unimodal model of a dense image modality (what the .npz bombs claim to be)."""
    root = tmp_path_factory.mktemp("image")
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(30)]
    y = np.arange(30) % 2
    images = rng.normal(size=(30, 1, 4, 4)) + y[:, None, None, None]
    data = MultiModalData({"scan": (ids, images)}, obs=pd.DataFrame({"y": y}, index=ids),
                          outcome="y", modalities={"scan": "image"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make("unimodal:scan").fit(data)
    return save_model(model, root / "model")


@pytest.mark.parametrize("craft, declared", [
    (bombs.craft_npz_header_bomb, "values.npy"),
    (bombs.craft_npz_zip_bomb, "values.npy"),
    (bombs.craft_overlapping_zip, "overlap"),
])
def test_a_subjects_archive_bomb_is_refused(image_model, tmp_path, craft, declared):
    folder = tmp_path / "new"
    folder.mkdir()
    craft(folder / "scan.npz")
    result, _, _ = bombs.run_limited(["predict", str(image_model), str(folder), "--out",
                                      str(tmp_path / "p.csv")])
    line = one_error_line(result)
    assert "scan.npz" in line and declared in line
    assert not (tmp_path / "p.csv").exists()


@pytest.fixture
def subjects(cohort, tmp_path):
    """New subjects for the model bombs (the model is read after them)."""
    from medfuse.data import write_folder

    return write_folder(cohort[:5], tmp_path / "subjects")


def test_a_model_member_declaring_a_gibibyte_is_refused(saved, subjects):
    bombs.craft_skops_member_bomb(saved)
    result, _, _ = bombs.run_limited(["predict", str(saved), str(subjects), "--out",
                                      str(saved.parent / "p.csv")])
    line = one_error_line(result)
    assert "estimator.skops" in line and "1,024.0 MiB" in line


def test_a_hundred_mebibyte_schema_is_refused(saved, subjects):
    bombs.craft_big_schema(saved)
    result, _, _ = bombs.run_limited(["predict", str(saved), str(subjects), "--out",
                                      str(saved.parent / "p.csv")])
    line = one_error_line(result)
    assert "member 'schema.json'" in line and "MEDFUSE_MAX_JSON_MB" in line


@pytest.mark.parametrize("settings, named", [
    ({"n_ensemble": 10**9}, "n_ensemble declares 1,000,000,000 networks"),
    ({"input_shapes_": {"rna": (10**8,)}}, "IntermediateFusion.input_shapes_ declares "
                                           "100,000,000"),
    ({"input_shapes_": {"rna": (10**6,)}}, "architecture: F32 [32, 1000000]"),
])
def test_a_network_rebuilt_from_lying_settings_is_refused(neural, subjects, settings, named):
    """The settings are capped before any layer is built, and the architecture (built on
    the meta device) must match the weights' shapes."""
    bombs.craft_network_settings(neural, **settings)
    result, _, _ = bombs.run_limited(["predict", str(neural), str(subjects), "--out",
                                      str(neural.parent / "p.csv")])
    line = one_error_line(result)
    assert named in line


def test_a_million_columns_are_refused_from_the_header(saved, tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    bombs.craft_wide_csv(folder / "rna.csv")
    result, _, _ = bombs.run_limited(["predict", str(saved), str(folder), "--out",
                                      str(tmp_path / "p.csv")])
    line = one_error_line(result)
    assert "rna.csv (header row) declares 1,000,000 columns" in line
    assert "MEDFUSE_MAX_COLUMNS" in line


def test_a_billion_laughs_study_is_refused_before_it_is_built(tmp_path):
    study = bombs.craft_laughs(tmp_path / "study.yaml")
    result, _, _ = bombs.run_limited(["benchmark", str(study), "--out", str(tmp_path / "o")])
    line = one_error_line(result)
    assert "study.yaml declares 435,848,083 nodes" in line
    assert not (tmp_path / "o" / "report.html").exists()


def test_the_caps_are_raised_by_their_variables(saved, tmp_path):
    """A cap is a default: the documented variable raises it (here the column cap, so a
    wide but honest table is read)."""
    import os

    folder = tmp_path / "new"
    shutil.copytree(saved.parent, tmp_path / "m")
    folder.mkdir()
    bombs.craft_wide_csv(folder / "rna.csv", n_columns=400)
    env = {**os.environ, "MEDFUSE_MAX_COLUMNS": "300"}
    result, _, _ = bombs.run_limited(["predict", str(saved), str(folder), "--out",
                                      str(tmp_path / "p.csv")], env=env)
    assert "more than the 300 columns" in one_error_line(result)
    env["MEDFUSE_MAX_COLUMNS"] = "1000"
    result, _, _ = bombs.run_limited(["predict", str(saved), str(folder), "--out",
                                      str(tmp_path / "p.csv")], env=env)
    assert "does not have the training features" in one_error_line(result)
