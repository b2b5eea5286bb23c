"""Cross-modal learning for incomplete cohorts: strategies and loss terms that learn from
subjects with several modalities (with or without an outcome) to serve subjects that have
fewer. Each module registers its strategies (lazily, by import path, so listing strategies
imports no torch) and its loss terms.
"""

from __future__ import annotations

from medfuse.fusion.crossmodal import cotraining  # noqa: F401  (registers co-training)
from medfuse.fusion.registry import register_lazy

register_lazy("contrastive", "medfuse.fusion.crossmodal.contrastive_fusion:ContrastiveFusion",
              family="neural", needs=("encoder",), interpretable=False,
              description="Intermediate fusion whose encoders are first aligned by CLIP-style "
                          "contrastive pre-training (symmetric InfoNCE between modalities) on "
                          "every subject with two or more modalities, labelled or not, then "
                          "fine-tuned with cross-entropy.")
register_lazy("distillation", "medfuse.fusion.crossmodal.distillation:DistillationFusion",
              family="neural", needs=("encoder",), interpretable=False,
              description="Teacher-student distillation: an intermediate teacher on all "
                          "modalities; for each modality subset seen in training (and each "
                          "single modality) a student on that subset trained with "
                          "alpha*T^2*KL(teacher/T || student/T) + (1-alpha)*CE on cross-fitted "
                          "soft targets, labelled or not; each subject is served by the "
                          "student of its modalities.")
register_lazy("disentangle", "medfuse.fusion.crossmodal.disentangle:DisentangledFusion",
              family="neural", needs=("encoder",), interpretable=False,
              description="Shared/specific disentanglement: each modality's latent split into "
                          "a part aligned across modalities and a private part (alignment, "
                          "orthogonality and reconstruction losses), pre-trained on every "
                          "subject, then fine-tuned with cross-entropy.")
