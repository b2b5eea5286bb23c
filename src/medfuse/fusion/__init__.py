"""Fusion strategies behind one estimator contract (see :mod:`medfuse.fusion.base`).

``make(name, **params)`` builds a strategy by name; ``available()`` lists the names and tags.
"""

from medfuse.fusion import additive as _additive  # noqa: F401  (registers "additive")
from medfuse.fusion import neural  # noqa: F401  (registers the neural strategies)
from medfuse.fusion.base import FusionClassifier, check_data, check_target
from medfuse.fusion.registry import available, make, register, strategy_names

__all__ = ["FusionClassifier", "available", "check_data", "check_target", "make", "register",
           "strategy_names"]

# Importing the strategy modules registers their names.
from medfuse.fusion import (  # noqa: F401
    cca,
    early,
    kernel,
    late,
    latent,
    stacking,
    survival,
    unimodal,
)
