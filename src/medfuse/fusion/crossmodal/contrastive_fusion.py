"""The ``contrastive`` strategy: intermediate fusion whose encoders are first aligned across
modalities by contrastive pre-training on every subject with two or more modalities."""

from __future__ import annotations

from typing import ClassVar

from medfuse.fusion.neural.models import IntermediateFusion

__all__ = ["ContrastiveFusion"]


class ContrastiveFusion(IntermediateFusion):
    """Intermediate fusion with CLIP-style contrastive pre-training of the encoders.

    Stage 1 (``pretrain_epochs``, on every training subject, with or without an outcome):
    the :class:`~medfuse.fusion.crossmodal.contrastive.Contrastive` term pulls each subject's
    latents of two modalities together and pushes those of different subjects apart, so
    that the encoders keep what the modalities share. Stage 2: the whole network (encoders,
    fusion head) is fine-tuned with cross-entropy on the labelled subjects, with early
    stopping as in :class:`~medfuse.fusion.neural.models.IntermediateFusion`. Subjects with
    one modality only take part in stage 2 and in prediction, from any subset of
    modalities.

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
        The loss terms, the unsupervised stage and the device, as in :class:`NeuralFusion`;
        the defaults here are ``pretrain_epochs=100``, ``pretrain_objectives=
        ("contrastive",)`` and ``reconstruction=0`` (fine-tuning with cross-entropy only).
    refit, n_ensemble, n_threads, random_state, verbose
        The refit on all training subjects, the seed ensemble, threads, seed and progress
        bar, as in :class:`NeuralFusion`.
    """

    _defaults: ClassVar[dict] = {"pretrain_epochs": 100,
                                 "pretrain_objectives": ("contrastive",),
                                 "reconstruction": 0.0}
