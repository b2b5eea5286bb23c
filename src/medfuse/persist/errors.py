"""The error a refused model folder raises."""

from __future__ import annotations


class UntrustedModelError(ValueError):
    """A saved model folder is refused before any of its content is loaded.

    Raised when ``estimator.skops`` holds a type, function or skops construct outside the
    pinned allowlist (:mod:`medfuse.persist.trusted`) and the exact names given to ``trust``,
    or when a file of the folder is malformed, damaged, inconsistent with the manifest or
    outside the folder. The message names the offending entry and where it sits.
    """
