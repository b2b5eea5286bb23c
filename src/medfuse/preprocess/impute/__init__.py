"""Filling in missing modalities, fitted on each fold's training subjects only.

Registered methods (the study file's ``impute:`` section names them per modality):

==============  ===========================================================================
``mean``        each feature's training mean (:class:`MeanImputer`)
``knn``         mean of the nearest training subjects in the other modalities
                (:class:`KNNModalityImputer`, scikit-learn's ``KNNImputer``)
``iterative``   chained equations (:class:`IterativeModalityImputer`, scikit-learn's
                ``IterativeImputer``)
``cross-modal`` PLS regression on the other modalities, one model per combination a
                subject can have (:class:`CrossModalImputer`)
``translator``  a neural network that generates the modality from the others
                (:class:`TranslatorImputer`)
``cycle``       cycle-consistent translation from another modality measured on other
                subjects (unpaired cohorts; :class:`CycleTranslatorImputer`)
==============  ===========================================================================

Multiple imputation with pooled predictions is the strategy wrapper
:class:`medfuse.fusion.imputed.ImputedClassifier` with ``n_imputations > 1``.
"""

from medfuse.preprocess.impute.base import ModalityImputer
from medfuse.preprocess.impute.cycle import CycleTranslatorImputer
from medfuse.preprocess.impute.encoding import IMPUTABLE_KINDS, PredictorEncoder, TargetScale
from medfuse.preprocess.impute.methods import (
    CrossModalImputer,
    IterativeModalityImputer,
    KNNModalityImputer,
    MeanImputer,
)
from medfuse.preprocess.impute.registry import imputer_names, make_imputer
from medfuse.preprocess.impute.translator import TranslatorImputer

__all__ = ["IMPUTABLE_KINDS", "CrossModalImputer", "CycleTranslatorImputer",
           "IterativeModalityImputer", "KNNModalityImputer", "MeanImputer", "ModalityImputer",
           "PredictorEncoder", "TargetScale", "TranslatorImputer", "imputer_names",
           "make_imputer"]
