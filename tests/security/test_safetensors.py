"""Crafted ``module.safetensors`` files: the header is checked against the file and against
the architecture the estimator rebuilds before any weight is read."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from medfuse.persist import UntrustedModelError, load_model
from medfuse.persist.tensors import read_header
from tests.security.crafting import edit_manifest, refresh_digests


def split(file: Path) -> tuple[dict, bytes]:
    raw = file.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8: 8 + n]), raw[8 + n:]


def write(folder: Path, header: dict, data: bytes, length: int | None = None) -> None:
    text = json.dumps(header).encode()
    prefix = struct.pack("<Q", len(text) if length is None else length)
    (folder / "module.safetensors").write_bytes(prefix + text + data)
    refresh_digests(folder)


def tensors_by_offset(header: dict) -> list[str]:
    names = [k for k in header if k != "__metadata__"]
    return sorted(names, key=lambda k: header[k]["data_offsets"][0])


def refusal(folder: Path) -> str:
    with pytest.raises(UntrustedModelError) as err:
        load_model(folder)
    return str(err.value)


def test_genuine_weights_load(neural, cohort):
    model = load_model(neural)
    proba = model.predict_proba(cohort.select(["rna", "imaging"]))
    assert np.isfinite(proba).all()
    assert set(read_header(neural / "module.safetensors")) == set(model.module_.state_dict())


def test_header_that_claims_more_data_than_the_file_holds(neural):
    header, data = split(neural / "module.safetensors")
    last = tensors_by_offset(header)[-1]
    header[last]["data_offsets"][1] += 4096
    write(neural, header, data)
    begin, end = header[last]["data_offsets"]
    assert (f"tensor {last!r} claims bytes [{begin}, {end}) but the data area holds "
            f"{len(data)} bytes") in refusal(neural)


def test_header_length_beyond_the_file(neural):
    header, data = split(neural / "module.safetensors")
    write(neural, header, data, length=10**7)
    size = len(json.dumps(header).encode()) + len(data)
    assert (f"the header claims {10**7} bytes but the file holds {size} after the length "
            "(truncated or forged)") in refusal(neural)


def test_truncated_file(neural):
    raw = (neural / "module.safetensors").read_bytes()
    (neural / "module.safetensors").write_bytes(raw[:-10])
    refresh_digests(neural)
    assert "but the data area holds" in refusal(neural)
    (neural / "module.safetensors").write_bytes(raw[:5])
    refresh_digests(neural)
    assert "it has 5 bytes, fewer than the 8-byte header length" in refusal(neural)


def test_overlapping_tensors(neural):
    header, data = split(neural / "module.safetensors")
    second = tensors_by_offset(header)[1]
    header[second]["data_offsets"] = [v - 4 for v in header[second]["data_offsets"]]
    write(neural, header, data)
    assert f"tensor {second!r} (bytes " in refusal(neural)
    assert "overlaps the previous tensor" in refusal(neural)


def test_shape_that_lies_about_its_bytes(neural):
    header, data = split(neural / "module.safetensors")
    name = tensors_by_offset(header)[0]
    header[name]["shape"] = [1]
    write(neural, header, data)
    begin, end = header[name]["data_offsets"]
    assert (f"tensor {name!r} ({header[name]['dtype']}, shape [1]) needs 4 bytes but its "
            f"offsets span {end - begin}") in refusal(neural)


def test_unknown_dtype(neural):
    header, data = split(neural / "module.safetensors")
    name = tensors_by_offset(header)[0]
    header[name]["dtype"] = "F128"
    write(neural, header, data)
    assert f"tensor {name!r} has the unknown dtype 'F128'" in refusal(neural)


def test_trailing_bytes_and_broken_json(neural):
    header, data = split(neural / "module.safetensors")
    write(neural, header, data + b"\0" * 16)
    assert f"the tensors cover {len(data)} bytes of a {len(data) + 16}-byte data area" in (
        refusal(neural))
    text = b'{"a": '
    (neural / "module.safetensors").write_bytes(struct.pack("<Q", len(text)) + text)
    refresh_digests(neural)
    assert "its header is not valid UTF-8 JSON" in refusal(neural)


def test_tensors_must_match_the_rebuilt_architecture(neural):
    weights = load_file(neural / "module.safetensors")
    names = sorted(weights)
    renamed, reshaped = names[0], next(n for n in names if weights[n].ndim == 2)
    weights[f"{renamed}_x"] = weights.pop(renamed)
    weights[reshaped] = weights[reshaped].reshape(-1)
    weights["extra.weight"] = torch.zeros(3)
    save_file(weights, neural / "module.safetensors")
    refresh_digests(neural)
    message = refusal(neural)
    assert "its tensors do not match the architecture the estimator rebuilds" in message
    assert f"missing tensors: {renamed}" in message
    assert f"unexpected tensors: {', '.join(sorted(['extra.weight', renamed + '_x']))}" in message
    size = weights[reshaped].numel()
    assert f"mismatched tensors: {reshaped} (file: F32 [{size}], architecture: F32 [" in message


def test_weights_of_another_dtype(neural):
    weights = load_file(neural / "module.safetensors")
    save_file({k: v.double() for k, v in weights.items()}, neural / "module.safetensors")
    refresh_digests(neural)
    assert "(file: F64 [" in refusal(neural)


def test_missing_weights(neural):
    (neural / "module.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no module\.safetensors, which its "
                                                r"manifest lists"):
        load_model(neural)
    edit_manifest(neural, lambda m: m["files"].pop("module.safetensors"))
    with pytest.raises(FileNotFoundError, match=r"has no module\.safetensors, the weights of "
                                                r"its IntermediateFusion"):
        load_model(neural)
