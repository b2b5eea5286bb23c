"""Neural fusion strategies as scikit-learn classifiers: ``intermediate``, ``attention`` and
``cross-attention`` (their shared design, persistence and explanation hooks are described in
:mod:`medfuse.fusion.neural.base`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.neural.base import NeuralFusion

__all__ = ["AttentionFusion", "CrossAttentionFusion", "IntermediateFusion", "NeuralFusion"]


class IntermediateFusion(NeuralFusion):
    """Intermediate fusion: per-modality encoders, latents concatenated into a shared head.

    A missing modality enters the head as its learned "missing" embedding, and the head also
    sees the availability mask.

    Parameters
    ----------
    latent_dim, hidden, head_hidden, dropout
        The network's widths and dropout, as in :class:`NeuralFusion`.
    lr, weight_decay, max_epochs, patience, batch_size, modality_dropout, class_weight
        The optimisation, as in :class:`NeuralFusion`.
    validation_fraction, preprocessors, conv_width, series_encoder, encoders
        Early stopping's inner split, the inputs and the encoders, as in
        :class:`NeuralFusion`.
    objectives, pretrain_epochs, pretrain_objectives, device, reconstruction, auxiliary
        The loss terms, the unsupervised stage and the device, as in :class:`NeuralFusion`.
    refit, n_ensemble, n_threads, random_state, verbose
        The refit on all training subjects, the seed ensemble, threads, seed and progress
        bar, as in :class:`NeuralFusion`. These parameters are shared by the neural
        strategies.
    """

    _fusion = "concat"


class _AttentionWeights:
    def attention_weights(self, data: MultiModalData) -> pd.DataFrame:
        """Modality attention per subject: DataFrame subjects x modalities whose rows sum to
        1, exactly 0 for modalities the subject lacks."""
        check_is_fitted(self, "module_")
        data = self.align(data)
        w = self._modality_weights(self._forward(data, "weights"))
        return pd.DataFrame(w, index=data.subjects,
                            columns=pd.Index(self.modalities_, name="modality"))

    def _set_attention(self, data: MultiModalData) -> None:
        self.attention_ = self.attention_weights(data).mean(axis=0)


class AttentionFusion(_AttentionWeights, NeuralFusion):
    """Modality-attention fusion: ``e_i = w^T tanh(W z_i + b)``, ``alpha = softmax(e)`` over
    the modalities a subject has, ``F = sum_i alpha_i z_i`` into the head.

    Parameters
    ----------
    latent_dim, hidden, head_hidden, dropout
        The network's widths and dropout, as in :class:`NeuralFusion`.
    lr, weight_decay, max_epochs, patience, batch_size, modality_dropout, class_weight
        The optimisation, as in :class:`NeuralFusion`.
    validation_fraction, preprocessors, conv_width, series_encoder, encoders
        Early stopping's inner split, the inputs and the encoders, as in
        :class:`NeuralFusion`.
    objectives, pretrain_epochs, pretrain_objectives, device, reconstruction, auxiliary
        The loss terms, the unsupervised stage and the device, as in :class:`NeuralFusion`.
    refit, n_ensemble, n_threads, random_state, verbose
        The refit on all training subjects, the seed ensemble, threads, seed and progress
        bar, as in :class:`NeuralFusion`. These parameters are shared by the neural
        strategies; the default
        ``latent_dim`` is 16 here (inner-CV choice on ROSMAP).
    attn_dim : int
        Width of ``W``.

    Attributes
    ----------
    attention_ : Series modality -> mean attention weight over the training subjects
        (0 counted for subjects lacking the modality).
    """

    _fusion = "attention"
    _defaults: ClassVar[dict] = {"latent_dim": 16}
    _extra: ClassVar[dict] = {"attn_dim": 16}

    def _network_kwargs(self) -> dict:
        return {"attn_dim": self.attn_dim}

    def _modality_weights(self, raw: np.ndarray) -> np.ndarray:
        return raw

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        super()._fit(data, y)
        self._set_attention(data)


class CrossAttentionFusion(_AttentionWeights, NeuralFusion):
    """Cross-modal attention fusion: each modality's latent token queries the modalities the
    subject has (multi-head attention with a key padding mask for missing ones), followed by
    a feed-forward layer; the output tokens of present modalities are averaged into the head.

    Parameters
    ----------
    latent_dim, hidden, head_hidden, dropout
        The network's widths and dropout, as in :class:`NeuralFusion`.
    lr, weight_decay, max_epochs, patience, batch_size, modality_dropout, class_weight
        The optimisation, as in :class:`NeuralFusion`.
    validation_fraction, preprocessors, conv_width, series_encoder, encoders
        Early stopping's inner split, the inputs and the encoders, as in
        :class:`NeuralFusion`.
    objectives, pretrain_epochs, pretrain_objectives, device, reconstruction, auxiliary
        The loss terms, the unsupervised stage and the device, as in :class:`NeuralFusion`.
    refit, n_ensemble, n_threads, random_state, verbose
        The refit on all training subjects, the seed ensemble, threads, seed and progress
        bar, as in :class:`NeuralFusion`. These parameters are shared by the neural
        strategies; the defaults
        here are ``lr=3e-4`` and ``patience=40`` (inner-CV choice on ROSMAP).
    n_heads : int
        Attention heads; must divide ``latent_dim``.

    Attributes
    ----------
    attention_ : Series modality -> mean attention a modality receives over the training
        subjects (see :meth:`attention_weights`).
    """

    _fusion = "cross-attention"
    _defaults: ClassVar[dict] = {"lr": 3e-4, "patience": 40}
    _extra: ClassVar[dict] = {"n_heads": 2}

    def _network_kwargs(self) -> dict:
        return {"n_heads": self.n_heads}

    def cross_attention_maps(self, data: MultiModalData) -> np.ndarray:
        """Attention maps, ndarray ``(n_subjects, n_heads, n_modalities, n_modalities)``:
        ``maps[s, h, q, k]`` is the weight that query modality ``q`` gives key modality ``k``
        in head ``h`` for subject ``s`` (subjects in ``data.subjects`` order, modalities in
        ``modalities_`` order). Rows of present queries sum to 1; rows of missing queries and
        columns of missing keys are 0."""
        check_is_fitted(self, "module_")
        return self._forward(self.align(data), "weights")

    def _modality_weights(self, maps: np.ndarray) -> np.ndarray:
        """Attention each key modality receives, averaged over heads and present queries
        (rows sum to 1, 0 for missing modalities)."""
        per_query = maps.mean(axis=1)
        present = per_query.sum(axis=2) > 0
        return (per_query.sum(axis=1) / np.maximum(present.sum(axis=1), 1)[:, None])

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        super()._fit(data, y)
        self._set_attention(data)
