"""Neural fusion strategies (PyTorch): ``intermediate``, ``attention``, ``cross-attention``.

The strategies are registered here by import path, so that listing or choosing strategies
does not import torch; their classes (:mod:`medfuse.fusion.neural.models`) load on first use.
See :mod:`medfuse.fusion.neural.base` for the shared design, persistence and explanation
hooks, :mod:`~medfuse.fusion.neural.objectives` for the loss terms and
:mod:`~medfuse.fusion.neural.encoders` for the encoder registry.
"""

from __future__ import annotations

from typing import Any

from medfuse.fusion.registry import register_lazy

_MODELS = "medfuse.fusion.neural.models"

register_lazy("intermediate", f"{_MODELS}:IntermediateFusion", family="neural",
              needs=("encoder",), interpretable=False,
              description="Intermediate fusion: per-modality encoders, latents concatenated "
                          "into a shared head.")
register_lazy("attention", f"{_MODELS}:AttentionFusion", family="neural",
              needs=("encoder",), interpretable=True,
              description="Modality-attention fusion: e_i = w^T tanh(W z_i + b), "
                          "alpha = softmax(e) over the modalities a subject has, "
                          "F = sum_i alpha_i z_i into the head.")
register_lazy("cross-attention", f"{_MODELS}:CrossAttentionFusion", family="neural",
              needs=("encoder",), interpretable=True,
              description="Cross-modal attention fusion: each modality's latent token queries "
                          "the modalities the subject has (multi-head attention with a key "
                          "padding mask for missing ones), followed by a feed-forward layer; "
                          "the output tokens of present modalities are averaged into the "
                          "head.")

__all__ = ["AttentionFusion", "CrossAttentionFusion", "IntermediateFusion", "NeuralFusion"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from medfuse.fusion.neural import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
