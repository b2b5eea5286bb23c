"""``medfuse predict`` on crafted model folders: exit code 2, a clear message, no payload run
and no predictions written."""

from __future__ import annotations

import json
import struct

import pytest
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data import write_folder
from tests.security.crafting import (
    code_writing,
    edit_manifest,
    numpy_exec_chain,
    refresh_digests,
)

runner = CliRunner()


@pytest.fixture
def new_subjects(cohort, tmp_path):
    return write_folder(cohort, tmp_path / "new")


def predict(folder, data, tmp_path, *options):
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(folder), str(data), "--out", str(out),
                                 *options])
    return result, " ".join(result.output.split()), out


def test_reported_exploit_is_refused_by_predict(poisoned, new_subjects, tmp_path):
    sentinel = tmp_path / "ran"
    folder = poisoned(preprocessors_={"rna": numpy_exec_chain(code_writing(sentinel))})
    result, output, out = predict(folder, new_subjects, tmp_path)
    assert result.exit_code == 2
    assert "error:" in output and "is refused; nothing in it was loaded" in output
    assert "the function numpy.testing._private.utils.runstring" in output
    assert "at estimator.preprocessors_['rna'].steps[3][1].func" in output
    assert not sentinel.exists() and not out.exists()


@pytest.mark.parametrize("prefix", ["medfuse_evil.", "numpy."])
def test_trust_prefix_is_refused_by_predict(saved, new_subjects, tmp_path, prefix):
    result, output, out = predict(saved, new_subjects, tmp_path, "--trust", prefix)
    assert result.exit_code == 2
    assert (f"trust takes exact fully qualified names such as 'mylab.models.MyStrategy'; "
            f"'{prefix}' is not one (module prefixes and wildcards are not accepted)") in output
    assert not out.exists()


def test_path_traversal_is_refused_by_predict(saved, new_subjects, tmp_path):
    edit_manifest(saved, lambda m: m["files"].update({"../estimator.skops": "0" * 64}))
    result, output, _ = predict(saved, new_subjects, tmp_path)
    assert result.exit_code == 2
    assert ("names the file '../estimator.skops', which is not a plain file name in the model "
            "folder (path traversal)") in output


def test_lying_safetensors_header_is_refused_by_predict(neural, new_subjects, tmp_path):
    raw = (neural / "module.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8: 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["dtype"] = "F128"
    text = json.dumps(header).encode()
    (neural / "module.safetensors").write_bytes(struct.pack("<Q", len(text)) + text
                                                + raw[8 + n:])
    refresh_digests(neural)
    result, output, _ = predict(neural, new_subjects, tmp_path)
    assert result.exit_code == 2
    assert "has the unknown dtype 'F128'" in output


def test_truncated_archive_is_refused_by_predict(saved, new_subjects, tmp_path):
    data = (saved / "estimator.skops").read_bytes()
    (saved / "estimator.skops").write_bytes(data[:100])
    refresh_digests(saved)
    result, output, _ = predict(saved, new_subjects, tmp_path)
    assert result.exit_code == 2
    assert "is not a readable skops archive: it is truncated or corrupt" in output


def test_genuine_model_still_predicts(saved, new_subjects, tmp_path):
    result, output, out = predict(saved, new_subjects, tmp_path)
    assert result.exit_code == 0, output
    assert out.exists()
