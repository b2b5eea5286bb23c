"""The study file as a whole: :class:`Study`, one field per section (each section's schema
in its own module), and reading its cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from medfuse.config.cohort import read_cohort
from medfuse.config.conformal import ConformalSpec
from medfuse.config.cv import CVSpec
from medfuse.config.errors import StudyError, _At
from medfuse.config.harmonize import HarmonizeSpec
from medfuse.config.impute import ImputeSpec
from medfuse.config.refs import ColumnRef, ModalitySpec, SurvivalRef, TestSpec, _Strict
from medfuse.config.screening import ScreeningSpec
from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.budget import DEFAULT_BUDGET
from medfuse.evaluate.metrics import metric_names


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
    impute : ImputeSpec, optional
        Missing modalities filled in inside every fold (off when absent).
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
        The metric that ranks strategies and that the handed-over model is chosen by.
    select : str
        What the study hands over (``out/model``): ``best`` (the simplest strategy within one
        standard error of the best CV score; the default), ``ensemble`` (greedy ensemble
        selection over the strategies' out-of-fold probabilities) or a benchmarked
        strategy's name (see :mod:`medfuse.study.handover`).
    unlabelled : {"pretrain", "drop"}, optional
        Training subjects without an outcome (classification). Absent: refused, with a
        message naming both options. ``drop``: left out. ``pretrain``: never split, scored
        or shown in the report, but added to every fit of the strategies that learn from
        unlabelled subjects (``co-training``, the neural strategies with
        ``pretrain_epochs > 0``, ...) and to the handed-over model's refit when it is one of
        them; as ``drop``, with a warning, when none of the study's strategies is.
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
    impute: ImputeSpec | None = None
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
    select: str = "best"
    unlabelled: Literal["pretrain", "drop"] | None = None
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
        if self.impute is not None and self.modalities:
            unknown = [m for m in self.impute.methods if m not in self.modalities]
            if unknown:
                raise _At("impute.methods", f"{', '.join(map(repr, unknown))} is not a "
                          f"modality of the study ({', '.join(self.modalities)})")
        if self.task == "survival" and self.unlabelled is not None:
            raise _At("unlabelled", "subjects without an outcome are for classification "
                                    "studies; a survival study needs every subject's time "
                                    "and event")
        if self.task == "survival" and self.conformal is not None:
            raise _At("conformal", "survival strategies predict a risk, not class "
                                   "probabilities; prediction sets need task: classification")
        if self.task == "survival" and self.primary_metric == "roc_auc":
            self.primary_metric = "c_index"  # the default of a classification study
        task_metrics = metric_names(self.task)
        if self.primary_metric not in task_metrics:
            raise _At("primary_metric", f"{self.primary_metric!r} is not a metric of a "
                      f"{self.task} study; choose one of {', '.join(task_metrics)}")
        self._check_select()
        return self

    def _check_select(self) -> None:
        """``select`` names a rule or a strategy this study benchmarks."""
        from medfuse.evaluate.ensemble import RULES as rules
        from medfuse.fusion.registry import check_name

        if self.select in rules:
            if self.task == "survival" and self.select == "ensemble":
                self.select = "best"   # survival strategies are not ensembled
            return
        if isinstance(self.strategies, list):
            named = [s for s in self.strategies if s not in self.exclude]
            if self.select not in named:
                raise _At("select", f"{self.select!r} is neither a rule ({', '.join(rules)}) "
                          f"nor one of the study's strategies ({', '.join(named)})")
            return
        try:
            check_name(self.select)
        except ValueError:
            raise _At("select", f"{self.select!r} is neither a rule ({', '.join(rules)}) nor "
                      "a registered strategy name") from None
        if self.select in self.exclude:
            raise _At("select", f"{self.select!r} is excluded (exclude:), so it is not "
                      "benchmarked")

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
        """One cohort (see :func:`medfuse.config.cohort.read_cohort`)."""
        return read_cohort(self.resolve, self._obs_columns(), outcome, modalities, prefix)

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


def check_strategy_names(names) -> None:
    """Refuse a strategy name the registry does not know, listing the valid ones (see
    :func:`medfuse.fusion.registry.check_name`).

    Parameters
    ----------
    names : iterable of str
        Strategy names as a study file gives them.

    Raises
    ------
    ValueError
        For the first unknown name.
    """
    from medfuse.fusion.registry import check_name

    for name in names:
        check_name(str(name))


def _checks_strategies(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("strategies", True))
