"""Explanations of fitted fusion strategies.

- :func:`modality_shapley`: which modality drove each prediction (exact Shapley values over
  modalities, any strategy), or how much each adds to cohort performance (``refit=True``).
- :func:`feature_shap`: which features within each modality (model-agnostic SHAP on the raw
  tabular features, captum gradients for neural strategies), aggregated to modality level.
- :func:`native`: what a strategy reports about itself (weights, loadings, attention), as
  tidy DataFrames.
"""

from medfuse.explain.features import FeatureAttribution, feature_shap
from medfuse.explain.modality import (
    ModalityAttribution,
    ModalityPerformanceShapley,
    modality_shapley,
)
from medfuse.explain.native import native

__all__ = ["FeatureAttribution", "ModalityAttribution", "ModalityPerformanceShapley",
           "feature_shap", "modality_shapley", "native"]
