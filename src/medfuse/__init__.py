"""medfuse: multi-modal biomedical data fusion.

Data flows one way: ``medfuse.data`` (aligned modalities) -> ``medfuse.preprocess``
(per-modality transformers) -> ``medfuse.fusion`` (estimators) -> ``medfuse.evaluate``
(leakage-free protocols) -> ``medfuse.explain`` -> ``medfuse.report``; ``medfuse.cli`` wires
a study file through them.
"""

from medfuse.data import Modality, ModalityKind, MultiModalData

__version__ = "0.1.0"

__all__ = ["Modality", "ModalityKind", "MultiModalData", "__version__"]
