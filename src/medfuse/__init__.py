"""medfuse: multi-modal biomedical data fusion.

Data flows one way: ``medfuse.data`` (aligned modalities) -> ``medfuse.preprocess``
(per-modality transformers) -> ``medfuse.represent`` (raw modalities as feature blocks) ->
``medfuse.fusion`` (estimators) -> ``medfuse.evaluate`` (leakage-free protocols) ->
``medfuse.explain`` -> ``medfuse.report``; ``medfuse.predictor`` serves saved models and
``medfuse.cli`` wires study files through them.

``import medfuse`` is cheap: the names below are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Modality", "ModalityKind", "MultiModalData", "RaggedBlock", "__version__"]

if TYPE_CHECKING:
    from medfuse.data import Modality, ModalityKind, MultiModalData, RaggedBlock


def __getattr__(name: str) -> Any:
    if name in ("Modality", "ModalityKind", "MultiModalData", "RaggedBlock"):
        import medfuse.data

        return getattr(medfuse.data, name)
    raise AttributeError(f"module 'medfuse' has no attribute {name!r}")
