"""Fusion strategies behind one estimator contract (see :mod:`medfuse.fusion.base`).

``make(name, **params)`` builds a strategy by name; ``available()`` lists the names and tags.
Importing this package registers every strategy but imports no torch: the neural strategies
load their module when one is built.
"""

from medfuse.fusion import (  # noqa: F401  (importing a strategy module registers its names)
    additive,
    cca,
    crossmodal,
    early,
    ensemble,
    kernel,
    late,
    latent,
    neural,
    stacking,
    survival,
    unimodal,
)
from medfuse.fusion.base import FusionClassifier, check_data, check_target
from medfuse.fusion.factory import make
from medfuse.fusion.registry import available, register, strategy_names
from medfuse.fusion.represented import with_representations

__all__ = ["FusionClassifier", "available", "check_data", "check_target", "make", "register",
           "strategy_names", "with_representations"]
