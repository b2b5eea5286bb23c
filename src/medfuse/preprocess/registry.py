"""Named preprocessing: the transformers a modality kind names as its defaults.

A kind (:mod:`medfuse.data.kinds`) names its default preprocessing and the input of its
neural encoder by registered name, so the data layer imports no transformer. This module
turns such a name into an unfitted transformer for one modality. Built-in names:

- ``zscore``: :class:`~medfuse.preprocess.scaling.ZScore` (continuous);
- ``log-cpm-zscore``: log-CPM then z-score (counts);
- ``clinical-encoder``: :class:`~medfuse.preprocess.clinical.ClinicalEncoder` with the
  modality's declared measurement scales (clinical);
- ``channel-standardizer``: :class:`~medfuse.preprocess.arrays.ChannelStandardizer`;
- ``series-input`` / ``image-input``: ragged series or images resampled to one shape, then
  standardised per channel (what the neural encoders see of those kinds);
- ``mask-crop``: crops of a fixed physical size around each image's mask
  (:class:`medfuse.imaging.crop.MaskCrop`), for a CNN on the region of interest.

A plugin registers its own with :func:`register_transform`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import clone

#: name -> factory(modality spec) -> unfitted transformer
_TRANSFORMS: dict[str, Callable[[Any], Any]] = {}


def register_transform(name: str, factory: Callable[[Any], Any] | str | None = None):
    """Register a transformer factory under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        How a kind names the transformer (e.g. ``Kind.preprocessing = "zscore"``).
    factory : callable or str, optional
        Called with the modality's :class:`~medfuse.data.Modality` to build an unfitted
        transformer; or the path ``"module:Class"`` of a transformer built with its
        defaults, imported when first made (how a domain package registers without being
        imported here). Omitted, a decorator is returned.

    Returns
    -------
    callable
        ``factory``, or the decorator that registers and returns one.
    """

    def wrap(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _TRANSFORMS[str(name)] = f
        return f

    return wrap(factory) if factory is not None else wrap


def transform_names() -> list[str]:
    """Registered transform names.

    Returns
    -------
    list of str
        Sorted.
    """
    return sorted(_TRANSFORMS)


def make_transform(choice, spec):
    """An unfitted transformer from what a kind declares.

    Parameters
    ----------
    choice : str, transformer or None
        A registered name, an unfitted transformer (cloned) or None (no transformer).
    spec : Modality
        The modality the transformer is for (a factory may read its scales).

    Returns
    -------
    transformer or None

    Raises
    ------
    ValueError
        For an unknown name, listing the registered ones.
    """
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in _TRANSFORMS:
            raise ValueError(f"Unknown transform {choice!r} (named by the modality kind "
                             f"{getattr(spec, 'kind', '?')!r}); registered: "
                             f"{', '.join(transform_names())}. Register it with "
                             "medfuse.preprocess.register_transform.")
        factory = _TRANSFORMS[choice]
        if isinstance(factory, str):  # registered by path: import on first use
            import importlib

            module, _, attr = factory.partition(":")
            return getattr(importlib.import_module(module), attr)()
        return factory(spec)
    return clone(choice)
