"""Saving a fitted strategy to a model folder, and loading it back only after checks.

See :mod:`medfuse.persist` for the folder layout and the rules a folder must pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import medfuse
from medfuse import limits
from medfuse.files import confined_folder, read_bytes, read_json, remove_file, write_file
from medfuse.persist import modules, tensors
from medfuse.persist.errors import UntrustedModelError
from medfuse.persist.pandas_codec import decode, encode
from medfuse.persist.skops_audit import audit_skops_file
from medfuse.persist.trust import check_trust

ESTIMATOR_FILE = "estimator.skops"
MODULE_FILE = "module.safetensors"
MANIFEST_FILE = "manifest.json"
#: the files a model folder may list in its manifest (``files``)
MODEL_FILES = (ESTIMATOR_FILE, MODULE_FILE)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def save_model(model, path: str | Path, strategy: str | None = None,
               extra: dict | None = None) -> Path:
    """Save a fitted strategy to the folder ``path`` (created; existing files replaced).

    Parameters
    ----------
    model : FusionClassifier or FusionSurvival
        A fitted strategy.
    path : str or Path
        The folder.
    strategy : str, optional
        The strategy name recorded in the manifest.
    extra : dict, optional
        More JSON-serialisable entries for the manifest (e.g. the study settings).

    Returns
    -------
    Path
        The folder, holding ``estimator.skops``, ``module.safetensors`` (neural strategies)
        and ``manifest.json`` (with the SHA-256 of each file under ``files``).
    """
    import skops.io as sio

    path = confined_folder(path)
    to_dump, found = modules.detach(model)
    digests = {}
    if found:
        digests[MODULE_FILE] = _write(path / MODULE_FILE, _safetensors_bytes(
            modules.bundle(found)))
    else:
        remove_file(path / MODULE_FILE)
    digests[ESTIMATOR_FILE] = _write(path / ESTIMATOR_FILE, sio.dumps(encode(to_dump, {})))
    manifest = {
        "medfuse_version": medfuse.__version__,
        "strategy": strategy or type(model).__name__,
        "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
        "modalities": list(model.modalities_),
        "kinds": dict(model.modality_kinds_),
        "feature_names": {m: (list(v) if v is not None else None)
                          for m, v in model.feature_names_.items()},
        "block_shapes": {m: None if s is None else list(s)
                         for m, s in getattr(model, "block_shapes_", {}).items()},
        "classes": [_jsonable(c) for c in getattr(model, "classes_", [])],
        "torch_module": bool(found),
        "torch_modules": list(found),
        "files": {name: digests[name] for name in MODEL_FILES if name in digests},
    }
    manifest.update(extra or {})
    write_file(path / MANIFEST_FILE, json.dumps(manifest, indent=2, default=str))
    return path


def _rebuild(estimator_file: Path, module_file: Path, module_bytes: bytes, targets: dict):
    """The untrained torch modules of a loaded model, built only after their declared sizes
    passed the caps and, built on the ``meta`` device (no memory), matched the shapes of the
    weights file."""
    import torch

    header = tensors.read_header(module_file, module_bytes)
    try:
        for est in targets.values():
            check = getattr(est, "_check_architecture", None)
            if callable(check):
                check()
        with torch.device("meta"):
            meta = modules.bundle({k: est._build_module() for k, est in targets.items()})
    except UntrustedModelError:
        raise
    except Exception as err:  # settings that cannot be built are a refusal
        raise UntrustedModelError(f"{estimator_file}: the torch architecture cannot be "
                                  f"rebuilt ({type(err).__name__}: {err}).") from err
    tensors.check_architecture(module_file, header, meta, missing=False)
    try:
        return modules.bundle({k: est._build_module() for k, est in targets.items()})
    except Exception as err:  # a rebuild that fails is a refusal
        raise UntrustedModelError(f"{estimator_file}: the torch architecture could not be "
                                  f"rebuilt ({type(err).__name__}: {err}).") from err


def _write(file: Path, data: bytes) -> str:
    """Write a model file (never through a link) and return its SHA-256."""
    write_file(file, data)
    return hashlib.sha256(data).hexdigest()


def _safetensors_bytes(module) -> bytes:
    """The safetensors file of a module's weights (tensors sharing storage stored once),
    written first into a private temporary folder."""
    import tempfile

    from safetensors.torch import save_model as save_torch

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / MODULE_FILE
        save_torch(module, str(file))
        return file.read_bytes()


def _member(folder: Path, name) -> Path:
    """``folder / name`` after checking that ``name`` is a plain file name whose file (after
    following symlinks) lies in ``folder``."""
    plain = (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
             and "\\" not in name and "\x00" not in name and not Path(name).is_absolute())
    if not plain:
        raise UntrustedModelError(f"{folder / MANIFEST_FILE} names the file {name!r}, which is "
                                  "not a plain file name in the model folder (path traversal).")
    file = folder / name
    if file.is_symlink() or file.exists():
        target = file.resolve()
        if target.parent != folder.resolve():
            raise UntrustedModelError(f"{file} is a link to {target}, outside the model folder; "
                                      "copy the file into the folder instead.")
        if not target.is_file():
            raise UntrustedModelError(f"{file} is not a regular file.")
    return file


def read_manifest(path: str | Path) -> dict:
    """The manifest of a saved model folder (informational: it never widens trust).

    Parameters
    ----------
    path : str or Path
        The model folder.

    Returns
    -------
    dict
        ``medfuse_version``, ``strategy``, ``estimator``, ``modalities``, ``kinds``,
        ``feature_names``, ``block_shapes``, ``classes``, ``torch_module``,
        ``torch_modules`` (where in the model the torch modules were), ``files``
        (file name -> SHA-256) and any ``extra`` entries.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``manifest.json``.
    UntrustedModelError
        If the manifest is not a JSON object, lies outside the folder, or its ``files`` entry
        names a file outside the folder or a file a model folder does not hold.
    """
    folder = Path(path)
    file = folder / MANIFEST_FILE
    if not (file.exists() or file.is_symlink()):
        raise FileNotFoundError(f"{path} is not a saved medfuse model (no {MANIFEST_FILE}).")
    _member(folder, MANIFEST_FILE)
    try:
        manifest = read_json(file)
    except (OSError, ValueError) as err:
        raise UntrustedModelError(str(err)) from None
    if not isinstance(manifest, dict):
        raise UntrustedModelError(f"{file} does not hold a JSON object.")
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise UntrustedModelError(f"{file}: 'files' must map file names to SHA-256 digests.")
    for name, digest in files.items():
        _member(folder, name)
        if name not in MODEL_FILES:
            raise UntrustedModelError(f"{file} lists {name!r}; a model folder holds only "
                                      f"{', '.join(MODEL_FILES)}.")
        if not isinstance(digest, str):
            raise UntrustedModelError(f"{file}: the digest of {name!r} is not a string.")
    return manifest


def _read_checked(folder: Path, manifest: dict) -> dict[str, tuple[Path, bytes]]:
    """The model files present (path and bytes), each inside the folder and matching its
    manifest digest. Everything after this works on these bytes, never rereads the files."""
    digests = manifest.get("files", {})
    out = {}
    for name in MODEL_FILES:
        file = _member(folder, name)
        if not file.exists():
            if name in digests:
                raise FileNotFoundError(f"{folder} has no {name}, which its manifest lists.")
            continue
        if name not in digests:
            raise UntrustedModelError(f"{file} has no SHA-256 in {MANIFEST_FILE}; every file "
                                      "of a model folder is listed there when it is saved.")
        try:
            data = read_bytes(file, limits.ARCHIVE)
        except (OSError, ValueError) as err:
            raise UntrustedModelError(str(err)) from None
        if hashlib.sha256(data).hexdigest() != digests[name]:
            raise UntrustedModelError(f"{file} does not match the SHA-256 recorded in "
                                      f"{MANIFEST_FILE}: it was changed or damaged after "
                                      "saving.")
        out[name] = (file, data)
    if ESTIMATOR_FILE not in out:
        raise FileNotFoundError(f"{folder} has no {ESTIMATOR_FILE}.")
    return out


def load_model(path: str | Path, trust=()):
    """Load a model saved by :func:`save_model`, refusing any folder that could run code.

    Nothing from the folder is imported, built or called before it passes every check:
    file names and links stay inside the folder, files match their manifest digests, the
    skops description holds only the exact classes and functions of
    :mod:`medfuse.persist.trusted` (plus ``trust``) and no construct that reaches attributes
    or calls stored callables, and a ``module.safetensors`` header is consistent with its
    file and with the architecture the estimator rebuilds.

    Parameters
    ----------
    path : str or Path
        The model folder.
    trust : sequence of str
        Exact fully qualified names of further classes (or functions) to load, e.g.
        ``("mylab.models.MyStrategy",)`` for your own strategy class; only name code you
        control. Prefixes (``"mylab."``) are refused, and a trust list inside the folder is
        never read.

    Returns
    -------
    The fitted estimator (neural ones with their torch module rebuilt, in eval mode).

    Raises
    ------
    FileNotFoundError
        If the folder has no manifest or no ``estimator.skops``.
    UntrustedModelError
        Naming what is refused and where (attribute path, file, tensor).
    ValueError
        If ``trust`` holds something other than exact names.
    """

    extra = check_trust(trust)
    folder = Path(path)
    manifest = read_manifest(folder)
    files = _read_checked(folder, manifest)
    estimator_file, estimator_bytes = files[ESTIMATOR_FILE]
    module_file, module_bytes = files.get(MODULE_FILE, (None, None))
    if module_file is not None:
        tensors.read_header(module_file, module_bytes)
    approved = audit_skops_file(estimator_file, extra, estimator_bytes)
    import skops.io as sio  # imported once the archive passed the audit (it loads torch)

    try:
        unexpected = set(sio.get_untrusted_types(data=estimator_bytes)) - set(approved)
    except Exception as err:  # skops refusing the archive is a refusal
        raise UntrustedModelError(f"{estimator_file} could not be read by skops "
                                  f"({type(err).__name__}: {err}).") from err
    if unexpected:
        raise UntrustedModelError(f"{estimator_file} is refused: skops reports "
                                  f"{sorted(unexpected)}, which the audit did not approve.")
    try:
        model = decode(sio.loads(estimator_bytes, trusted=approved))
    except Exception as err:  # any failure to rebuild is a refusal
        raise UntrustedModelError(f"{estimator_file} passed the audit but could not be "
                                  f"rebuilt ({type(err).__name__}: {err}).") from err
    targets = modules.rebuild_targets(model)
    if module_file is not None:
        if not targets:
            raise UntrustedModelError(f"{module_file} is refused: {type(model).__name__} has no "
                                      "torch module.")
        holder = _rebuild(estimator_file, module_file, module_bytes, targets)
        loaded = modules.unbundle(tensors.load_weights(module_file, holder, module_bytes),
                                  targets)
        for key, est in targets.items():
            est.module_ = loaded[key]
    elif targets or manifest.get("torch_module"):
        raise FileNotFoundError(f"{folder} has no {MODULE_FILE}, the weights of its "
                                f"{type(model).__name__}.")
    return model
