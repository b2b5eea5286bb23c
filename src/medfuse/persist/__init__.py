"""Saving and loading fitted strategies without pickle, and without running code from a file.

A saved model is a folder:

- ``estimator.skops``: the fitted estimator, written by :func:`skops.io.dump`.
- ``module.safetensors`` (neural strategies only): the weights of the torch module. Neural
  estimators keep every torch module in the one attribute ``module_`` and implement
  ``_build_module()``, which rebuilds the untrained architecture from fitted attributes; the
  estimator is dumped without ``module_`` and the module is rebuilt and loaded on load.
- ``manifest.json``: medfuse version, strategy name, modalities, kinds, feature names,
  classes and the SHA-256 of each file (``files``), so that a model can be inspected (and
  input checked) without loading it. The manifest is information only: it never widens trust.

pandas objects among the fitted attributes (skops cannot store them) are written as plain
values, index and column labels and restored on load (:mod:`medfuse.persist.pandas_codec`).

Loading (:func:`load_model`) refuses, with :class:`UntrustedModelError` naming what and where,
before anything from the folder is imported, built or called:

- a type or function outside the exact names pinned in :mod:`medfuse.persist.trusted` (plus
  the exact names given to ``trust``), a function-valued attribute not listed there, a
  built-in callable, an object array, and the skops constructs of the published advisories
  (bound methods, operator functions, partials, ...): :mod:`medfuse.persist.skops_audit`;
- a manifest entry or a link pointing outside the folder, a file that does not match its
  manifest digest, a truncated or corrupt archive;
- a ``module.safetensors`` whose header lies about sizes or offsets, or whose tensors differ
  from the rebuilt architecture: :mod:`medfuse.persist.tensors`.
"""

from medfuse.persist.errors import UntrustedModelError
from medfuse.persist.folder import (
    ESTIMATOR_FILE,
    MANIFEST_FILE,
    MODEL_FILES,
    MODULE_FILE,
    load_model,
    read_manifest,
    save_model,
)
from medfuse.persist.skops_audit import audit_skops_file
from medfuse.persist.trust import check_trust

__all__ = [
    "ESTIMATOR_FILE",
    "MANIFEST_FILE",
    "MODEL_FILES",
    "MODULE_FILE",
    "UntrustedModelError",
    "audit_skops_file",
    "check_trust",
    "load_model",
    "read_manifest",
    "save_model",
]
