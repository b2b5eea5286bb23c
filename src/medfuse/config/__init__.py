"""The study file: a YAML description of data, protocol and strategies, validated by pydantic.

A minimal study::

    name: my-study
    task: classification
    outcome: {file: labels.csv, column: label}
    modalities:
      mrna:     {file: mrna.csv, kind: continuous}
      clinical: {file: clinical.csv, kind: clinical}
    strategies: all
    cv: {folds: 5, repeats: 3, seed: 0}

Relative paths are relative to the study file. The first column of every table is the subject
ID. Errors name the field that is wrong (``cv.folds: ...``). Columns a study uses as outcome,
batch, groups or harmonization covariates are never features: they are dropped from every
modality table read from the same file (the data summary says so).

Batch harmonization is a section of its own, refitted inside every fold with the rest of each
strategy's per-modality preprocessing::

    batch: {file: clinical.csv, column: site}
    harmonize:
      method: ComBat              # or ComBat-seq (counts)
      modalities: [mrna]          # default: every modality the method applies to
      covariates: [age]           # protected: columns of the batch file, or {file, column}
      reference_batch: A          # optional
      unseen_batch: error         # or reference / fit-new

Very wide blocks can be screened inside every fold, after harmonization and before the
default preprocessing (``screening: {method: variance, keep: 2000, modalities: [mrna]}``).

Missing modalities can be filled in inside every fold, each by its own method, with
multiple imputation pooling the predictions when ``n_imputations > 1``::

    impute:
      methods: {imaging: cross-modal, methylation: {method: knn, n_neighbors: 5}}
      n_imputations: 1

Conformal prediction sets and recalibration wrap every strategy, refitted inside every fold::

    conformal: {alpha: 0.1, mondrian: pattern, calibration: platt, pattern_augment: true}

Training subjects without an outcome are refused unless the study says what to do with them:
``unlabelled: drop`` leaves them out; ``unlabelled: pretrain`` never splits or scores them
either, but adds them to every fit of the strategies that learn from unlabelled subjects
(``co-training``, the neural strategies with ``pretrain_epochs > 0``)::

    unlabelled: pretrain

A sensor stream is a ``timeseries`` modality read from a long table (subject or night,
``time``, ``channel``, ``value``, ``unit``) with a ``stream:`` declaration::

    modalities:
      cgm: {file: wearables.csv, kind: timeseries,
            stream: {channels: [glucose], interval: 300, max_gap: 900, zone: UTC}}

One module per section (:mod:`~medfuse.config.refs`, :mod:`~medfuse.config.cv`,
:mod:`~medfuse.config.harmonize`, :mod:`~medfuse.config.screening`,
:mod:`~medfuse.config.impute`, :mod:`~medfuse.config.conformal`), the whole file
(:mod:`~medfuse.config.study`), reading it (:mod:`~medfuse.config.parse`) and its cohorts
(:mod:`~medfuse.config.cohort`).
"""

from medfuse.config.conformal import ConformalSpec
from medfuse.config.cv import CVSpec
from medfuse.config.errors import StudyError
from medfuse.config.harmonize import HarmonizeSpec
from medfuse.config.impute import ImputeSpec
from medfuse.config.parse import load_study, parse_study, read_study_data
from medfuse.config.refs import ColumnRef, ModalitySpec, SurvivalRef, TestSpec
from medfuse.config.screening import ScreeningSpec
from medfuse.config.streams import StreamRef
from medfuse.config.study import Study, check_strategy_names

__all__ = ["CVSpec", "ColumnRef", "ConformalSpec", "HarmonizeSpec", "ImputeSpec",
           "ModalitySpec", "ScreeningSpec", "StreamRef", "Study", "StudyError", "SurvivalRef",
           "TestSpec",
           "check_strategy_names", "load_study", "parse_study", "read_study_data"]
