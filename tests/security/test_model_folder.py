"""Crafted model folders: paths, links, digests, damaged archives and trust.

The file names a folder gives (manifest entries, links) must stay inside the folder, files
must match their manifest digests, a damaged archive gives a clear error, and nothing in the
folder can widen trust; ``trust=`` takes exact names only.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from medfuse.persist import UntrustedModelError, check_trust, load_model, save_model
from tests.security.crafting import (
    attribute,
    code_writing,
    edit_manifest,
    forget_module,
    naive_load,
    refresh_digests,
    rewrite_archive,
    sentinel_module,
)


def live_eval_folder(folder: Path, sentinel: Path) -> Path:
    """Turn a saved folder into one whose archive runs ``eval`` while skops loads it."""

    def edit(schema):
        prep = attribute(schema, "preprocessors_")
        prep["content"] = {code_writing(sentinel): prep["content"]["rna"]}
        key_type = prep["key_types"]["content"][0]
        key_type.update(__module__="builtins", __class__="eval")
        del key_type["__id__"]

    rewrite_archive(folder, edit)
    return folder


@pytest.mark.parametrize("name", ["../outside/estimator.skops", "/etc/passwd",
                                  "sub/estimator.skops", ".."])
def test_manifest_file_names_cannot_leave_the_folder(unimodal, tmp_path, name):
    sentinel = tmp_path / "ran"
    live_eval_folder(save_model(unimodal, tmp_path / "outside"), sentinel)
    folder = save_model(unimodal, tmp_path / "model")
    edit_manifest(folder, lambda m: m["files"].update({name: "0" * 64}))
    with pytest.raises(UntrustedModelError) as err:
        load_model(folder)
    assert (f"names the file {name!r}, which is not a plain file name in the model folder "
            "(path traversal)") in str(err.value)
    assert not sentinel.exists()


def test_unknown_file_in_the_manifest_is_refused(saved):
    edit_manifest(saved, lambda m: m["files"].update({"extra.py": "0" * 64}))
    with pytest.raises(UntrustedModelError, match=r"lists 'extra\.py'; a model folder holds "
                                                  r"only estimator\.skops, module\.safetensors"):
        load_model(saved)


@pytest.mark.parametrize("linked", ["estimator.skops", "manifest.json"])
def test_links_out_of_the_folder_are_refused(unimodal, tmp_path, linked):
    sentinel = tmp_path / "ran"
    outside = live_eval_folder(save_model(unimodal, tmp_path / "outside"), sentinel)
    with contextlib.suppress(Exception):
        naive_load(outside)
    assert sentinel.exists(), "control: the outside archive runs its payload"
    sentinel.unlink()
    folder = save_model(unimodal, tmp_path / "model")
    (folder / linked).unlink()
    (folder / linked).symlink_to(outside / linked)
    if linked == "estimator.skops":
        edit_manifest(folder, lambda m: m.pop("files"))  # no digest to give it away
    with pytest.raises(UntrustedModelError) as err:
        load_model(folder)
    assert (f"{folder / linked} is a link to {(outside / linked).resolve()}, outside the model "
            "folder; copy the file into the folder instead.") in str(err.value)
    assert not sentinel.exists()


def test_a_link_inside_the_folder_is_fine(unimodal, tmp_path, cohort):
    folder = save_model(unimodal, tmp_path / "model")
    (folder / "estimator.skops").rename(folder / "copy.bin")
    (folder / "estimator.skops").symlink_to("copy.bin")
    np.testing.assert_array_equal(load_model(folder).predict_proba(cohort),
                                  unimodal.predict_proba(cohort))


def test_changed_file_fails_its_digest(saved):
    data = bytearray((saved / "estimator.skops").read_bytes())
    data[-30] ^= 0xFF
    (saved / "estimator.skops").write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError, match=r"estimator\.skops does not match the "
                                                  r"SHA-256 recorded in manifest\.json: it was "
                                                  r"changed or damaged after saving"):
        load_model(saved)


def test_truncated_archive(saved):
    data = (saved / "estimator.skops").read_bytes()
    (saved / "estimator.skops").write_bytes(data[: len(data) // 2])
    refresh_digests(saved)
    with pytest.raises(UntrustedModelError, match=r"estimator\.skops is not a readable skops "
                                                  r"archive: it is truncated or corrupt "
                                                  r"\(File is not a zip file\)\. Save the "
                                                  r"model again\."):
        load_model(saved)


def test_corrupt_archive_member(saved):
    file = saved / "estimator.skops"
    with zipfile.ZipFile(file) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(".npy"))
    data = bytearray(file.read_bytes())
    # the member's last data byte (stored uncompressed, right after its local header)
    data[info.header_offset + 30 + len(info.filename) + len(info.extra)
         + info.compress_size - 1] ^= 0xFF
    file.write_bytes(bytes(data))
    refresh_digests(saved)
    with pytest.raises(UntrustedModelError, match=rf"is a damaged skops archive: member "
                                                  rf"'{info.filename}' fails its checksum"):
        load_model(saved)


def test_missing_estimator_and_manifest(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved medfuse model"):
        load_model(tmp_path / "nothing")
    (saved / "estimator.skops").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no estimator\.skops, which its manifest "
                                                r"lists"):
        load_model(saved)


def test_manifest_that_is_not_an_object(saved):
    (saved / "manifest.json").write_text("[1, 2")
    with pytest.raises(UntrustedModelError, match=r"manifest\.json is not valid JSON"):
        load_model(saved)
    (saved / "manifest.json").write_text(json.dumps(["estimator.skops"]))
    with pytest.raises(UntrustedModelError, match=r"manifest\.json does not hold a JSON object"):
        load_model(saved)


def test_a_trust_list_in_the_folder_is_never_read(saved, tmp_path, monkeypatch):
    sentinel = tmp_path / "imported"
    module = sentinel_module(tmp_path, "medfuse_evil", sentinel, "Unimodal")
    monkeypatch.syspath_prepend(str(tmp_path))
    rewrite_archive(saved, lambda schema: schema.update(__module__=module))
    name = f"{module}.Unimodal"
    edit_manifest(saved, lambda m: m.update(trust=[name], trusted_types=[name],
                                            estimator=name))
    for file in ("trust.txt", "trusted_types.json", "trust"):
        (saved / file).write_text(json.dumps([name]))
    try:
        with pytest.raises(UntrustedModelError, match=rf"the type {module}\.Unimodal, which is "
                                                      r"not trusted, at estimator\n"):
            load_model(saved)
        assert not sentinel.exists()
    finally:
        forget_module(module)


@pytest.mark.parametrize("given", ["medfuse_evil.", "numpy.", "sklearn", "mylab.models.*",
                                   "tests.reference_strategies.", ""])
def test_trust_takes_exact_names_not_prefixes(saved, given):
    with pytest.raises(ValueError, match=rf"trust takes exact fully qualified names such as "
                                         rf"'mylab\.models\.MyStrategy'; '{given}' is not one "
                                         r"\(module prefixes and wildcards are not accepted\)"):
        load_model(saved, trust=(given,))


@pytest.mark.parametrize("given", ["numpy.testing._private.utils.runstring", "builtins.exec",
                                   "operator.methodcaller", "os.system", "posix.system"])
def test_code_running_names_cannot_be_trusted(given):
    with pytest.raises(ValueError, match=rf"'{given}' cannot be trusted: "):
        check_trust([given])


def test_exact_trust_does_not_cover_look_alikes(saved, tmp_path, monkeypatch):
    """Trusting ``medfuse_evil.Unimodal`` exactly says nothing of ``medfuse_evil2.Unimodal``
    (nor does trusting a medfuse name cover a look-alike)."""
    sentinel = tmp_path / "imported"
    module = sentinel_module(tmp_path, "medfuse_evil", sentinel, "Unimodal")
    monkeypatch.syspath_prepend(str(tmp_path))
    rewrite_archive(saved, lambda schema: schema.update(__module__=module))
    try:
        # names outside the plugin packages are refused before anything is imported
        for trust in [(f"{module}x.Unimodal",), (f"{module}.Unimodalx",)]:
            with pytest.raises(ValueError, match="trust takes only a class registered"):
                load_model(saved, trust=trust)
        # a registered medfuse class does not cover its look-alike in the archive
        with pytest.raises(UntrustedModelError, match=rf"the type {module}\.Unimodal"):
            load_model(saved, trust=("medfuse.fusion.unimodal.Unimodal",))
        assert not sentinel.exists()
    finally:
        forget_module(module)
