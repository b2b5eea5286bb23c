"""Neural fusion strategies (PyTorch): ``intermediate``, ``attention``, ``cross-attention``.

See :mod:`medfuse.fusion.neural.models` for the shared design, persistence and explanation
hooks.
"""

from medfuse.fusion.neural.models import (
    AttentionFusion,
    CrossAttentionFusion,
    IntermediateFusion,
    NeuralFusion,
)

__all__ = ["AttentionFusion", "CrossAttentionFusion", "IntermediateFusion", "NeuralFusion"]
