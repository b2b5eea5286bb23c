"""Building crafted model folders for the security tests (nothing binary is committed).

Each crafted folder starts from a real fitted and saved strategy and is then tampered with
the way an attacker would: by saving a poisoned estimator, by editing ``schema.json`` inside
the archive, or by rewriting files and the manifest digests. Payloads create a sentinel file
when they run, so a test can show that a payload is live (a control that loads the folder
the unsafe way runs it) and that ``load_model`` refused it before it ran.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import skops.io as sio
from numpy.testing._private.utils import runstring
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from medfuse.persist import ESTIMATOR_FILE, MANIFEST_FILE, MODEL_FILES
from medfuse.persist.pandas_codec import decode


def code_writing(sentinel: Path) -> str:
    """Python source that creates ``sentinel`` when executed."""
    return f"open({str(sentinel)!r}, 'w').write('payload ran')"


def naive_load(folder: Path):
    """What trusting every name skops reports does (the old prefix rule accepted every name
    of the reported exploit): the control that shows a payload is live."""
    file = folder / ESTIMATOR_FILE
    return decode(sio.load(file, trusted=sio.get_untrusted_types(file=file)))


def refresh_digests(folder: Path) -> None:
    """Rewrite the manifest's SHA-256 digests, as an attacker editing the folder would."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                         for name in MODEL_FILES if (folder / name).exists()}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def edit_manifest(folder: Path, edit: Callable[[dict], None]) -> None:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    edit(manifest)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def rewrite_archive(folder: Path, edit_schema: Callable[[dict], None] | None = None,
                    members: dict[str, bytes] | None = None) -> None:
    """Rewrite ``estimator.skops`` with an edited ``schema.json`` and/or replaced or added
    members, then refresh the manifest digests."""
    file = folder / ESTIMATOR_FILE
    with zipfile.ZipFile(file) as src:
        content = {name: src.read(name) for name in src.namelist()}
    if edit_schema is not None:
        schema = json.loads(content["schema.json"])
        edit_schema(schema)
        content["schema.json"] = json.dumps(schema).encode()
    content.update(members or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in content.items():
            out.writestr(name, data)
    file.write_bytes(buffer.getvalue())
    refresh_digests(folder)


def attribute(schema: dict, *names: str) -> dict:
    """The schema entry of ``estimator.<names[0]>[<names[1]>]...`` (attributes of objects,
    keys of dicts)."""
    node = schema
    for name in names:
        node = node["content"]["content"][name] if node["__loader__"] == "ObjectNode" else (
            node["content"][name])
    return node


def set_attribute(schema: dict, name: str, entry: dict) -> None:
    """Give the estimator the attribute ``name`` (its key type listed, as skops writes it)."""
    attrs = schema["content"]
    if name not in attrs["content"]:
        attrs["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    attrs["content"][name] = entry


def entries(node) -> Iterator[dict]:
    """Every skops entry below ``node``."""
    if isinstance(node, dict):
        if "__loader__" in node:
            yield node
        for value in node.values():
            yield from entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from entries(value)


def json_value(value) -> dict:
    """A skops entry holding a plain JSON value."""
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def sentinel_module(directory: Path, stem: str, sentinel: Path, class_name: str) -> str:
    """Write an importable module whose import creates ``sentinel`` and which defines
    ``class_name``; returns its (unique) module name. Importing it is code execution."""
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(
        f"{code_writing(sentinel)}\n\n\nclass {class_name}:\n    pass\n")
    return name


def forget_module(name: str) -> None:
    sys.modules.pop(name, None)


class ExecOnUnpickle:
    """An object whose pickle runs ``exec(code)`` when unpickled (what an object-dtype .npy
    member carries)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def numpy_exec_chain(code: str) -> Pipeline:
    """The reported exploit: numpy functions that turn any input into ``code``, then the
    numpy test helper that passes it to ``exec``."""
    return Pipeline([
        ("fill", FunctionTransformer(np.full_like,
                                     kw_args={"fill_value": code, "dtype": "U400"})),
        ("flat", FunctionTransformer(np.ravel)),
        ("first", FunctionTransformer(np.take, kw_args={"indices": 0})),
        ("run", FunctionTransformer(runstring, kw_args={"dict": {}})),
    ])
