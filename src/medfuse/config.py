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

Conformal prediction sets and recalibration wrap every strategy, refitted inside every fold::

    conformal: {alpha: 0.1, mondrian: pattern, calibration: platt, pattern_augment: true}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from medfuse.data.modality import Modality
from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.budget import DEFAULT_BUDGET
from medfuse.evaluate.metrics import metric_names


class StudyError(ValueError):
    """A study file that cannot be used; the message names the field."""


class _At(ValueError):
    """A validation error inside a field: ``where`` extends the field's location in the
    message (``params`` + ``late-mean`` -> ``params.late-mean: ...``)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnRef(_Strict):
    """One column of a table file (first column = subject ID).

    Parameters
    ----------
    file : str
        The table file, relative to the study file.
    column : str
        The column's name in its header row.
    """

    file: str
    column: str


class SurvivalRef(_Strict):
    """Time and event columns of one table file, for ``task: survival``.

    Parameters
    ----------
    file : str
        The table file, relative to the study file.
    time : str
        Column of the event or censoring time (a non-negative number).
    event : str
        Column of the event indicator: 0/1, true/false or yes/no.
    """

    file: str
    time: str
    event: str


class ModalitySpec(_Strict):
    """One modality file and its kind (any registered kind, see
    :mod:`medfuse.data.kinds`).

    Parameters
    ----------
    file : str
        The modality's file, relative to the study file; tables are ``.csv``, ``.tsv`` or
        ``.parquet`` with the subject ID in the first column, other files are read by the
        kind.
    kind : str
        A registered kind name (default ``continuous``).
    scales : dict of str to str
        For ``clinical`` modalities, column -> measurement scale (``nominal``,
        ``ordinal``, ``interval``, ``ratio``, ``text``); other columns are inferred.
    allow_nan : bool, optional
        Whether NaN cells may occur in a measured row (default: the kind's rule, yes for
        ``clinical`` only).
    """

    file: str
    kind: str = "continuous"
    scales: dict[str, str] = Field(default_factory=dict,
                                   description="clinical: column -> measurement scale")
    allow_nan: bool | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from medfuse.data.kinds import kind_names

        if v not in kind_names():
            raise ValueError(f"unknown kind {v!r}; registered kinds: {', '.join(kind_names())}")
        return v

    def to_modality(self) -> Modality:
        return Modality(self.kind, scales=self.scales, allow_nan=self.allow_nan)


class CVSpec(_Strict):
    """Cross-validation protocol.

    Parameters
    ----------
    folds : int
        k of k-fold (at least 2).
    repeats : int
        Repetitions of k-fold, each with its own shuffle (at least 1).
    seed : int
        Seed of the first repetition (repetition ``r`` uses ``seed + r``).
    scheme : {"auto", "stratified", "grouped", "leave-site-out"}
        ``auto``: grouped k-fold when the study has ``groups``, else repeated stratified
        k-fold; ``grouped`` needs ``groups``; ``leave-site-out`` (one fold per value of the
        ``batch`` column) needs ``batch``.
    """

    folds: int = Field(5, ge=2)
    repeats: int = Field(3, ge=1)
    seed: int = 0
    scheme: Literal["auto", "stratified", "grouped", "leave-site-out"] = "auto"


class TestSpec(_Strict):
    """An external test set with the same modalities as the training files.

    Parameters
    ----------
    outcome : ColumnRef or SurvivalRef
        The test subjects' outcome.
    modalities : dict of str to ModalitySpec
        The test subjects' modality files, under the training modalities' names.
    """

    outcome: ColumnRef | SurvivalRef
    modalities: dict[str, ModalitySpec]


class HarmonizeSpec(_Strict):
    """Batch harmonization of some modalities, refitted inside every fold.

    Each harmonized modality gets :class:`~medfuse.preprocess.chain.ObsChain` ``[harmonizer,
    the kind's default preprocessing]`` as the ``preprocessors`` entry of every strategy
    (ComBat then z-score for ``continuous``; ComBat-seq then log-CPM and z-score for
    ``counts``; see :func:`medfuse.study.harmonization_chains`), so the harmonizer is fitted
    on each fold's training subjects only and saved with the model.

    Parameters
    ----------
    method : {"ComBat", "ComBat-seq"}
        ComBat for continuous modalities, ComBat-seq for counts.
    modalities : list of str, optional
        The modalities to harmonize (default: every modality whose kind the method applies
        to).
    batch : ColumnRef, optional
        The batch column (default: the study's ``batch``).
    covariates : list of ColumnRef or str
        Protected covariates, each ``{file, column}`` or a column of the batch's file.
    parametric, mean_only : bool, optional
        ComBat's empirical Bayes options (default: parametric, location and scale).
    reference_batch : str or int, optional
        Batch left unchanged; the others are mapped onto it.
    unseen_batch : {"error", "reference", "fit-new"}
        What happens to subjects of a batch with no subject in the training part: an error,
        left unadjusted (``reference``; needs ``reference_batch``) or estimated from their
        own subjects (``fit-new``).
    """

    method: Literal["ComBat", "ComBat-seq"] = "ComBat"
    modalities: list[str] | None = None
    batch: ColumnRef | None = None
    covariates: list[ColumnRef | str] = Field(default_factory=list)
    parametric: bool | None = None
    mean_only: bool | None = None
    reference_batch: str | int | None = None
    unseen_batch: Literal["error", "reference", "fit-new"] = "error"

    @model_validator(mode="after")
    def _options_of_the_method(self) -> HarmonizeSpec:
        if self.method == "ComBat-seq":
            for option in ("parametric", "mean_only"):
                if getattr(self, option) is not None:
                    raise _At(option, f"a ComBat option; ComBat-seq has no {option}")
        if self.unseen_batch == "reference" and self.reference_batch is None:
            raise _At("unseen_batch", "'reference' leaves an unseen batch unadjusted, as the "
                                      "reference batch; give reference_batch")
        return self

    def covariate_refs(self, batch: ColumnRef | None) -> list[ColumnRef]:
        """The covariates as column references (a bare name is a column of the batch's
        file)."""
        refs = []
        for c in self.covariates:
            if isinstance(c, str):
                if batch is None:
                    raise StudyError(f"harmonize.covariates: {c!r} names no file; give "
                                     "{file, column}.")
                c = ColumnRef(file=batch.file, column=c)
            refs.append(c)
        return refs


class ScreeningSpec(_Strict):
    """In-fold feature screening of wide modalities (off unless the section is given).

    Each screened modality gets :class:`~medfuse.preprocess.screening.FeatureScreen` in its
    preprocessing chain, after the harmonizer (if any) and before the default
    preprocessing (see :func:`medfuse.study.screening_chains`), refitted on the training
    subjects of every fold and saved with the model.

    Parameters
    ----------
    method : {"variance", "univariate"}
        ``variance``: the features of largest variance; ``univariate``: those most
        associated with the outcome (ANOVA F, or the Cox score statistic for survival).
    keep : int
        Features kept per screened modality (at least 1).
    modalities : list of str, optional
        The modalities to screen (default: every modality wider than ``keep`` of a kind
        that declares a ``screening_scale``: continuous and counts); a named modality must
        have more than ``keep`` features.
    """

    method: Literal["variance", "univariate"] = "variance"
    keep: int = Field(ge=1)
    modalities: list[str] | None = None


class ConformalSpec(_Strict):
    """Conformal prediction sets and recalibration around every strategy, refitted in every
    fold (calibration subjects come from each fold's training part).

    Each setting is the parameter of the same name of
    :class:`medfuse.fusion.conformal.ConformalClassifier`.

    Parameters
    ----------
    alpha : float in (0, 1)
        Miscoverage: sets hold the true class for at least ``1 - alpha`` of subjects.
    method : {"split", "cross"}
        Split conformal (a calibration share of each training part) or cross-conformal.
    mondrian : {"pattern", "class"} or None
        Coverage per availability pattern, per true class, or marginal only.
    calibration_fraction : float in (0, 1)
        Share of the training subjects held out to calibrate (``split``).
    calibration : {"platt", "isotonic", "temperature", "venn-abers"} or None
        Recalibration of the probabilities, fitted on the calibration subjects.
    pattern_augment : bool
        Also score calibration subjects with modalities hidden, so that rare patterns get
        calibration scores (valid when modalities are missing at random).
    n_folds : int
        Folds of ``cross``.
    """

    alpha: float = Field(0.1, gt=0, lt=1)
    method: Literal["split", "cross"] = "split"
    mondrian: Literal["pattern", "class"] | None = "pattern"
    calibration_fraction: float = Field(0.25, gt=0, lt=1)
    calibration: Literal["platt", "isotonic", "temperature", "venn-abers"] | None = None
    pattern_augment: bool = False
    n_folds: int = Field(5, ge=2)


class Study(_Strict):
    """A study file (see the module docstring); each parameter is one section of the YAML.

    Parameters
    ----------
    name : str
        Shown in the report and recorded in the saved model's manifest.
    task : {"classification", "survival"}
    format : {"files", "mogonet", "folder"}
        ``files`` (``outcome`` + ``modalities``), ``mogonet`` (``path`` to a MOGONET
        folder: ``_tr`` files train, ``_te`` files test) or ``folder`` (``path`` to a folder
        readable by :func:`medfuse.data.read_folder`, with ``outcome`` naming the obs column).
    path : str, optional
        The data folder of the ``mogonet`` and ``folder`` formats.
    outcome : ColumnRef, SurvivalRef or str, optional
        ``{file, column}`` (classification) or ``{file, time, event}`` (survival) for
        ``format: files``; the obs column's name for ``format: folder``.
    modalities : dict of str to ModalitySpec
        The modality files of ``format: files``.
    batch : ColumnRef, optional
        The site or batch column, added to ``obs`` as ``batch``.
    groups : ColumnRef, optional
        The group (e.g. patient) column, added to ``obs`` as ``group``.
    harmonize : HarmonizeSpec, optional
        Batch harmonisation refitted inside every fold.
    screening : ScreeningSpec, optional
        Feature screening of wide modalities refitted inside every fold (off when absent).
    conformal : ConformalSpec, optional
        Conformal prediction sets and recalibration around every strategy, refitted inside
        every fold.
    test : TestSpec, optional
        An external test set.
    strategies : "all" or list of str
        Strategy names (``all``: every strategy of the task that accepts the kinds).
    exclude : list of str
        Strategy names left out.
    params : dict of str to dict
        Strategy name -> constructor arguments.
    representations : dict of str to str or dict
        Modality -> representation name or ``{name, params}``.
    cv : CVSpec
        The cross-validation protocol.
    seeds : int
        Number of seeds over which the test-split score of a stochastic strategy is
        averaged (a strategy is stochastic when it has a ``random_state`` parameter).
    primary_metric : str
        The metric that ranks strategies and picks the saved model.
    robustness : bool
        Score every fold model with every subset of modalities available.
    budget : float or None
        Seconds one (strategy, split) fit may take; a fit over budget is stopped and its
        strategy left out (default 1800; None: no limit).
    base_dir : Path
        The study file's folder, against which relative paths are resolved (set by
        :func:`load_study`; not read from the YAML).
    """

    name: str = "study"
    task: Literal["classification", "survival"] = "classification"
    format: Literal["files", "mogonet", "folder"] = "files"
    path: str | None = None
    outcome: ColumnRef | SurvivalRef | str | None = None
    modalities: dict[str, ModalitySpec] = Field(default_factory=dict)
    batch: ColumnRef | None = None
    groups: ColumnRef | None = None
    harmonize: HarmonizeSpec | None = None
    screening: ScreeningSpec | None = None
    conformal: ConformalSpec | None = None
    test: TestSpec | None = None
    strategies: Literal["all"] | list[str] = "all"
    exclude: list[str] = Field(default_factory=list)
    params: dict[str, dict] = Field(default_factory=dict,
                                    description="strategy name -> constructor arguments")
    representations: dict[str, str | dict] = Field(
        default_factory=dict,
        description="modality -> representation name or {name, params} (raw modalities "
                    "turned into feature blocks inside every fold)")
    cv: CVSpec = Field(default_factory=CVSpec)
    seeds: int = Field(5, ge=1)
    primary_metric: str = "roc_auc"
    robustness: bool = True
    budget: float | None = Field(DEFAULT_BUDGET, gt=0, allow_inf_nan=False)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("primary_metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in metric_names():
            raise ValueError(f"unknown metric {v!r}; choose one of {', '.join(metric_names())}")
        return v

    @field_validator("representations")
    @classmethod
    def _known_representations(cls, v: dict) -> dict:
        from medfuse.represent import representation_names

        for modality, spec in v.items():
            name = spec if isinstance(spec, str) else spec.get("name")
            if name not in representation_names():
                raise ValueError(f"{modality}: unknown representation {name!r}; registered: "
                                 f"{', '.join(representation_names())}")
            if isinstance(spec, dict) and set(spec) - {"name", "params"}:
                raise ValueError(f"{modality}: a representation is {{name, params}}; got "
                                 f"keys {', '.join(sorted(spec))}")
        return v

    @field_validator("strategies")
    @classmethod
    def _nonempty(cls, v, info: ValidationInfo):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one strategy name, or 'all'")
        if isinstance(v, list) and _checks_strategies(info):
            check_strategy_names(v)
        return v

    @field_validator("exclude")
    @classmethod
    def _known_exclude(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if _checks_strategies(info):
            check_strategy_names(v)
        return v

    @field_validator("params")
    @classmethod
    def _known_params(cls, v: dict[str, dict], info: ValidationInfo) -> dict[str, dict]:
        from medfuse.fusion.registry import check_params

        for name, params in v.items():
            if "preprocessors" in params:
                raise _At(f"{name}.preprocessors",
                          "preprocessing is not set per strategy in a study file; request "
                          "ComBat or ComBat-seq in the harmonize: section")
        if not _checks_strategies(info):
            return v
        check_strategy_names(list(v))
        for name, params in v.items():
            try:
                check_params(name, params)
            except ValueError as err:
                raise _At(name, str(err)) from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        if self.format == "files":
            if self.outcome is None or isinstance(self.outcome, str):
                raise ValueError("outcome: give {file: ..., column: ...} (or time/event for "
                                 "survival) when format is 'files'")
            if not self.modalities:
                raise ValueError("modalities: name at least one modality file")
        else:
            if self.path is None:
                raise ValueError(f"path: format {self.format!r} needs the path of the data")
            if self.modalities:
                raise ValueError(f"modalities: not used with format {self.format!r} (the "
                                 "modalities come from the files at 'path')")
        if self.task == "survival" and self.format == "files" and not isinstance(
                self.outcome, SurvivalRef):
            raise ValueError("outcome: a survival study needs {file, time, event}")
        if self.task == "classification" and isinstance(self.outcome, SurvivalRef):
            raise ValueError("outcome: time/event columns need task: survival")
        if self.cv.scheme == "leave-site-out" and self.batch is None and self.format != "folder":
            raise ValueError("cv.scheme: leave-site-out needs a 'batch' column (the site)")
        if self.cv.scheme == "grouped" and self.groups is None and self.format != "folder":
            raise ValueError("cv.scheme: grouped needs a 'groups' column")
        if self.harmonize is not None:
            if self.harmonize.batch is None and self.batch is None and self.format != "folder":
                raise _At("harmonize.batch", "give the batch column (harmonize.batch or the "
                                             "study's batch: {file, column})")
            unknown = [m for m in self.harmonize.modalities or () if self.modalities
                       and m not in self.modalities]
            if unknown:
                raise _At("harmonize.modalities", f"{', '.join(map(repr, unknown))} is not a "
                          f"modality of the study ({', '.join(self.modalities)})")
        if self.screening is not None and self.modalities:
            unknown = [m for m in self.screening.modalities or () if m not in self.modalities]
            if unknown:
                raise _At("screening.modalities", f"{', '.join(map(repr, unknown))} is not a "
                          f"modality of the study ({', '.join(self.modalities)})")
        if self.task == "survival" and self.conformal is not None:
            raise _At("conformal", "survival strategies predict a risk, not class "
                                   "probabilities; prediction sets need task: classification")
        if self.task == "survival" and self.primary_metric == "roc_auc":
            self.primary_metric = "c_index"  # the default of a classification study
        task_metrics = metric_names(self.task)
        if self.primary_metric not in task_metrics:
            raise _At("primary_metric", f"{self.primary_metric!r} is not a metric of a "
                      f"{self.task} study; choose one of {', '.join(task_metrics)}")
        return self

    # ------------------------------------------------------------------ paths and data
    def resolve(self, path: str | Path) -> Path:
        """A path of the study file, relative to the study file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def batch_column(self) -> str | None:
        """The obs column holding the batch under its own name (the harmonization's batch,
        else the study's ``batch``; ``batch`` for a folder's obs file); None when the study
        has no batch. Harmonizers read it, so an ``obs`` file of new subjects gives it under
        that name."""
        ref = (self.harmonize.batch if self.harmonize is not None else None) or self.batch
        if ref is not None:
            return ref.column
        return "batch" if self.harmonize is not None else None

    @property
    def cv_scheme(self) -> str:
        """The scheme actually used (``auto`` resolved)."""
        if self.cv.scheme != "auto":
            return self.cv.scheme
        return "grouped" if self.groups is not None else "stratified"

    def load(self) -> tuple[MultiModalData, MultiModalData | None]:
        """The training data and the external test data (None when there is none).

        Batch and group columns are added to ``obs`` under the names ``batch`` and ``group``
        (the original column names are kept too).
        """
        if self.task == "survival" and self.format != "files":
            raise StudyError(f"task: survival needs format: files (outcome: {{file, time, "
                             f"event}}), not format: {self.format}.")
        if self.format == "mogonet":
            from medfuse.data.io import load_mogonet

            train, test = load_mogonet(self.resolve(self.path))
            return train, test
        if self.format == "folder":
            from medfuse.data.io import read_folder

            outcome = self.outcome if isinstance(self.outcome, str) else None
            return read_folder(self.resolve(self.path), outcome=outcome), None
        train = self._read(self.outcome, self.modalities, "")
        test = (self._read(self.test.outcome, self.test.modalities, "test.")
                if self.test is not None else None)
        if test is not None and set(test.modality_names) != set(train.modality_names):
            raise StudyError(
                f"test.modalities: {sorted(test.modality_names)} differ from the training "
                f"modalities {sorted(train.modality_names)}.")
        return train, test

    def _read(self, outcome: ColumnRef | SurvivalRef, modalities: dict[str, ModalitySpec],
              prefix: str) -> MultiModalData:
        """One cohort (see :func:`medfuse.study_data.read_cohort`)."""
        from medfuse.study_data import read_cohort

        return read_cohort(self, outcome, modalities, prefix)

    def _obs_columns(self) -> list[tuple[str, ColumnRef, str, str]]:
        """``(obs name, column, field, role)`` of every column the study adds to obs: the
        batch (also as ``batch``), the groups (also as ``group``), and the harmonization's
        batch and covariates (under their own names)."""
        out = []
        if self.batch is not None:
            out.append(("batch", self.batch, "batch", "batch"))
        if self.groups is not None:
            out.append(("group", self.groups, "groups", "groups"))
        if self.harmonize is not None:
            h = self.harmonize
            if h.batch is not None:
                out.append((h.batch.column, h.batch, "harmonize.batch", "batch"))
            for ref in h.covariate_refs(h.batch or self.batch):
                out.append((ref.column, ref, "harmonize.covariates", "covariate"))
        return out


#: keys users write where the study file has another place for them
_MOVED = {key: "batch harmonization is requested in the harmonize: section (method: ComBat or "
               "ComBat-seq)" for key in ("preprocessors", "preprocessing", "combat")}

_UNION_TAGS = ("ColumnRef", "SurvivalRef", "str", "list[str]", "dict[str,ModalitySpec]")


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        parts = [str(p) for p in e["loc"]
                 if str(p) not in _UNION_TAGS and not str(p).startswith(("function-", "literal["))]
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, _At):
            parts.append(cause.where)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and parts and parts[-1] in _MOVED:
            msg += f"; {_MOVED[parts[-1]]}"
        lines.append(f"{'.'.join(parts) or 'study'}: {msg}")
    return "; ".join(dict.fromkeys(lines))


def check_strategy_names(names) -> None:
    """Refuse a strategy name the registry does not know, listing the valid ones (see
    :func:`medfuse.fusion.registry.check_name`)."""
    from medfuse.fusion.registry import check_name

    for name in names:
        check_name(str(name))


def parse_study(raw: dict, base_dir: str | Path = ".", strategies: bool = True) -> Study:
    """Validate a study given as a dict (what the YAML holds).

    Parameters
    ----------
    raw : dict
        The study's sections.
    base_dir : str or Path
        The folder relative paths are resolved against.
    strategies : bool
        Check the strategy names and their parameters against the registry; False skips
        it (reading a study's data for prediction needs none of them).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        Naming every invalid field.
    """
    if not isinstance(raw, dict):
        raise StudyError("study: the file must hold a mapping (name: ..., modalities: ...)")
    try:
        return Study.model_validate({**raw, "base_dir": Path(base_dir).resolve()},
                                    context={"strategies": strategies})
    except ValidationError as err:
        raise StudyError(f"Invalid study file: {_format_errors(err)}") from None
    except TypeError as err:
        raise StudyError(f"Invalid study file: {err}") from None


def load_study(path: str | Path, strategies: bool = True) -> Study:
    """Read and validate a study YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file; relative paths in it are relative to its folder.
    strategies : bool
        Check the strategy names and their parameters (see :func:`parse_study`).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        When the file is missing, is not valid YAML or has an invalid field.
    """
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"No such study file: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise StudyError(f"{path} is not valid YAML: {err}") from None
    return parse_study(raw, base_dir=path.parent, strategies=strategies)


def _checks_strategies(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("strategies", True))
