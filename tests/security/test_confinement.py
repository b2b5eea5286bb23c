"""Every write stays inside ``--out`` and every read inside the inputs: links planted where
medfuse writes or deletes are refused (never followed), links out of a data folder are not
read unless asked, and only regular files are read (a FIFO or ``/dev/zero`` is refused at
once). Each attack names a victim file outside the folders and checks it is untouched."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data import make_cohort, read_folder, write_folder
from medfuse.files import UnsafePathError, confined_folder, remove_file, write_file
from medfuse.fusion import make
from medfuse.persist import save_model

runner = CliRunner()


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside every folder medfuse is given, which no attack may change."""
    path = tmp_path / "outside" / "victim.txt"
    path.parent.mkdir()
    path.write_text("precious")
    return path


def untouched(victim: Path) -> bool:
    return victim.read_text() == "precious"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small study folder (two modalities, 40 subjects) and its study file."""
    root = tmp_path_factory.mktemp("study")
    data = make_cohort(40, n_genes=8, n_imaging=5, random_state=0).select(["imaging",
                                                                          "clinical"])
    for m in data.modality_names:
        data.block(m).to_csv(root / f"{m}.csv")
    data.obs.to_csv(root / "labels.csv")
    spec = {"outcome": {"file": "labels.csv", "column": "label"},
            "modalities": {m: {"file": f"{m}.csv", "kind": str(data.kinds[m])}
                           for m in data.modality_names},
            "strategies": ["late-mean"], "cv": {"folds": 2, "repeats": 1}, "seeds": 1}
    (root / "study.yaml").write_text(yaml.safe_dump(spec))
    return root / "study.yaml", data


def benchmark(study_file: Path, out: Path, *extra: str):
    return runner.invoke(app, ["benchmark", str(study_file), "--out", str(out),
                               "--no-explain", *extra])


def error_line(result) -> str:
    """The one ``error:`` line a refused command ends with (exit 2, no traceback)."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


# ---------------------------------------------------------------------- writes
@pytest.mark.parametrize("planted", ["results.csv", "report.html", "failures.csv",
                                     "comparison.csv"])
def test_a_link_planted_as_an_output_is_refused_before_any_fit(study, tmp_path, victim,
                                                               planted):
    out = tmp_path / "out"
    out.mkdir()
    (out / planted).symlink_to(victim)
    line = error_line(benchmark(study[0], out))
    assert f"{out / planted} is a link" in line
    assert untouched(victim) and not (out / "cache").exists()


@pytest.mark.parametrize("planted", ["cache", "model"])
def test_a_link_planted_as_an_output_folder_is_refused(study, tmp_path, victim, planted):
    out = tmp_path / "out"
    out.mkdir()
    (out / planted).symlink_to(victim.parent, target_is_directory=True)
    line = error_line(benchmark(study[0], out))
    assert f"{out / planted} is a link" in line
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_a_link_planted_as_a_cache_entry_is_refused_on_resume(study, tmp_path, victim):
    out = tmp_path / "out"
    assert benchmark(study[0], out).exit_code == 0
    entry = next((out / "cache").glob("*.json"))
    entry.unlink()
    entry.symlink_to(victim)
    (out / "cache" / f"{entry.stem}.tmp").symlink_to(victim)  # the old temporary name
    line = error_line(benchmark(study[0], out, "--resume"))
    assert "cache" in line and "is a link" in line
    assert untouched(victim)


def test_a_link_planted_in_a_model_folder_is_never_written_through(tmp_path, victim):
    data = make_cohort(30, n_genes=6, n_imaging=4, random_state=0)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "module.safetensors").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=re.escape("module.safetensors is a link")):
        save_model(make("late-mean").fit(data), folder)  # it would delete the stale file
    (folder / "module.safetensors").unlink()
    (folder / "manifest.json").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=re.escape("manifest.json is a link")):
        save_model(make("late-mean").fit(data), folder)
    assert untouched(victim)


def test_writes_are_atomic_and_leave_no_temporary_file(tmp_path):
    folder = confined_folder(tmp_path, "a")
    write_file(folder / "x.csv", "1\n")
    write_file(folder / "x.csv", "2\n")
    assert (folder / "x.csv").read_text() == "2\n"
    assert [p.name for p in folder.iterdir()] == ["x.csv"]
    assert remove_file(folder / "x.csv") and not remove_file(folder / "x.csv")


def test_predict_out_that_is_a_link_is_refused(tmp_path, victim):
    data = make_cohort(30, n_genes=6, n_imaging=4, random_state=0)
    folder = save_model(make("late-mean").fit(data), tmp_path / "model")
    write_folder(data[:5], tmp_path / "new")
    (tmp_path / "p.csv").symlink_to(victim)
    line = error_line(runner.invoke(app, ["predict", str(folder), str(tmp_path / "new"),
                                          "--out", str(tmp_path / "p.csv")]))
    assert "p.csv is a link" in line and untouched(victim)


# ---------------------------------------------------------------------- reads
@pytest.fixture
def model_and_new(tmp_path):
    data = make_cohort(30, n_genes=6, n_imaging=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = save_model(make("late-mean").fit(data), tmp_path / "model")
    new = tmp_path / "new"
    new.mkdir()
    for m in data.modality_names:
        data[:6].block(m).to_csv(new / f"{m}.csv")
    return folder, new, data


def test_a_link_out_of_a_data_folder_is_not_read(model_and_new, tmp_path):
    folder, new, data = model_and_new
    secret = tmp_path / "secret.csv"
    data[:6].block("clinical").to_csv(secret)
    (new / "clinical.csv").unlink()
    (new / "clinical.csv").symlink_to(secret)
    line = error_line(runner.invoke(app, ["predict", str(folder), str(new), "--out",
                                          str(tmp_path / "p.csv")]))
    assert "clinical.csv is a link to" in line and "--follow-links" in line
    followed = runner.invoke(app, ["predict", str(folder), str(new), "--out",
                                   str(tmp_path / "p.csv"), "--follow-links"])
    assert followed.exit_code == 0, followed.output
    assert set(pd.read_csv(tmp_path / "p.csv", index_col=0)["modalities_used"]) == {
        "rna+imaging+clinical"}


def test_a_system_file_linked_into_a_folder_never_reaches_the_predictions(model_and_new,
                                                                         tmp_path):
    folder, new, _ = model_and_new
    (new / "clinical.csv").unlink()
    (new / "clinical.csv").symlink_to("/etc/passwd")
    result = runner.invoke(app, ["predict", str(folder), str(new), "--out",
                                 str(tmp_path / "p.csv")])
    assert "root:x:0" not in result.output and not (tmp_path / "p.csv").exists()
    assert "clinical.csv is a link to /etc/passwd" in error_line(result)


def test_a_fifo_named_as_a_modality_is_refused_at_once(model_and_new, tmp_path):
    folder, new, _ = model_and_new
    (new / "clinical.csv").unlink()
    os.mkfifo(new / "clinical.csv")
    line = error_line(runner.invoke(app, ["predict", str(folder), str(new), "--out",
                                          str(tmp_path / "p.csv")]))
    assert "clinical.csv is not a regular file" in line


def test_dev_zero_as_a_table_is_refused(model_and_new, tmp_path):
    folder, new, _ = model_and_new
    (new / "rna.csv").unlink()
    (new / "rna.csv").symlink_to("/dev/zero")
    line = error_line(runner.invoke(app, ["predict", str(folder), str(new), "--out",
                                          str(tmp_path / "p.csv"), "--follow-links"]))
    assert "rna.csv is not a regular file" in line


def test_a_study_file_naming_a_fifo_is_refused(study, tmp_path):
    study_file, _ = study
    spec = yaml.safe_load(study_file.read_text())
    os.mkfifo(tmp_path / "pipe.csv")
    spec["modalities"]["imaging"]["file"] = str(tmp_path / "pipe.csv")
    spec["outcome"]["file"] = str(study_file.parent / "labels.csv")
    spec["modalities"]["clinical"]["file"] = str(study_file.parent / "clinical.csv")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    assert "pipe.csv is not a regular file" in error_line(benchmark(tmp_path / "s.yaml",
                                                                    tmp_path / "o"))


def test_a_manifest_naming_files_outside_its_folder_is_refused(tmp_path):
    data = make_cohort(20, n_genes=4, n_imaging=3, random_state=0)
    folder = write_folder(data, tmp_path / "d")
    manifest = (folder / "medfuse.json").read_text()
    for target in ("/etc/passwd", "../secret.csv"):
        (folder / "medfuse.json").write_text(manifest.replace('"rna.csv"', f'"{target}"'))
        with pytest.raises(ValueError, match="not a plain file name in the folder"):
            read_folder(folder)


def test_a_malformed_data_manifest_is_one_error_line(model_and_new, tmp_path):
    folder, new, _ = model_and_new
    for text in ("{not json", '{"modalities": 3}', "[1, 2]", '{"modalities": {"rna": {}}}'):
        (new / "medfuse.json").write_text(text)
        line = error_line(runner.invoke(app, ["predict", str(folder), str(new), "--out",
                                              str(tmp_path / "p.csv")]))
        assert "medfuse.json" in line


def _h5mu_with(tmp_path: Path, how: str) -> Path:
    """A MuData file one of whose datasets reads another file."""
    import anndata as ad
    import h5py
    import mudata as md

    rna = ad.AnnData(np.ones((3, 2), dtype=np.float32),
                     obs=pd.DataFrame(index=["a", "b", "c"]))
    path = tmp_path / "cohort.h5mu"
    md.MuData({"rna": rna}).write_h5mu(path)
    (tmp_path / "data.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["x"] = np.arange(6, dtype=np.float32).reshape(3, 2)
    with h5py.File(path, "a") as store:
        del store["mod/rna/X"]
        if how == "external":
            store.create_dataset("mod/rna/X", shape=(3, 2), dtype=np.float32,
                                 external=[(str(tmp_path / "data.bin"), 0, 24)])
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=(3, 2), dtype=np.float32)
            layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "x", shape=(3, 2))
            store.create_virtual_dataset("mod/rna/X", layout)
        else:
            store["mod/rna/X"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "x")
    return path


@pytest.mark.parametrize("how, said", [("external", "keeps its data in other files"),
                                       ("virtual", "is a virtual dataset"),
                                       ("link", "is a link into the file")])
def test_an_h5mu_that_reads_other_files_is_refused(tmp_path, how, said):
    path = _h5mu_with(tmp_path, how)
    line = error_line(runner.invoke(app, ["info", str(path)]))
    assert "cohort.h5mu is refused" in line and said in line
