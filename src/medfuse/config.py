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
ID. Errors name the field that is wrong (``cv.folds: ...``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medfuse.data.kinds import get_kind
from medfuse.data.kinds.base import TABLE_SUFFIXES
from medfuse.data.modality import Modality
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.evaluate.budget import DEFAULT_BUDGET
from medfuse.evaluate.metrics import metric_names


class StudyError(ValueError):
    """A study file that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnRef(_Strict):
    """One column of a table file (first column = subject ID)."""

    file: str
    column: str


class SurvivalRef(_Strict):
    """Time and event columns of one table file, for ``task: survival``."""

    file: str
    time: str
    event: str


class ModalitySpec(_Strict):
    """One modality file and its kind (any registered kind, see
    :mod:`medfuse.data.kinds`)."""

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

    ``scheme``: ``auto`` (grouped k-fold when the study has ``groups``, else repeated
    stratified k-fold), ``stratified``, ``grouped`` or ``leave-site-out`` (one fold per value
    of the ``batch`` column).
    """

    folds: int = Field(5, ge=2)
    repeats: int = Field(3, ge=1)
    seed: int = 0
    scheme: Literal["auto", "stratified", "grouped", "leave-site-out"] = "auto"


class TestSpec(_Strict):
    """An external test set with the same modalities as the training files."""

    outcome: ColumnRef | SurvivalRef
    modalities: dict[str, ModalitySpec]


class Study(_Strict):
    """A study file (see the module docstring).

    Attributes
    ----------
    format : ``files`` (``outcome`` + ``modalities``), ``mogonet`` (``path`` to a MOGONET
        folder: ``_tr`` files train, ``_te`` files test) or ``folder`` (``path`` to a folder
        readable by :func:`medfuse.data.read_folder`, with ``outcome`` naming the obs column).
    seeds : number of seeds over which the test-split score of a stochastic strategy is
        averaged (a strategy is stochastic when it has a ``random_state`` parameter).
    robustness : score every fold model with every subset of modalities available.
    primary_metric : the metric that ranks strategies and picks the saved model.
    budget : seconds one (strategy, split) fit may take; a fit over budget is stopped and
        its strategy left out (default 1800; null: no limit).
    """

    name: str = "study"
    task: Literal["classification", "survival"] = "classification"
    format: Literal["files", "mogonet", "folder"] = "files"
    path: str | None = None
    outcome: ColumnRef | SurvivalRef | str | None = None
    modalities: dict[str, ModalitySpec] = Field(default_factory=dict)
    batch: ColumnRef | None = None
    groups: ColumnRef | None = None
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
    def _nonempty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one strategy name, or 'all'")
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
        if self.task == "survival" and self.primary_metric not in ("c_index", "td_auc"):
            self.primary_metric = "c_index"
        return self

    # ------------------------------------------------------------------ paths and data
    def resolve(self, path: str | Path) -> Path:
        """A path of the study file, relative to the study file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

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
        """One cohort. For the test cohort (``prefix == "test."``) the batch and group
        columns are looked up by name in the test files (outcome file first), and left out
        when no test file has them."""
        from medfuse.data.tables import read_table

        tables: dict[Path, pd.DataFrame] = {}

        def table(file: str, field: str) -> pd.DataFrame:
            p = self.resolve(file)
            if p not in tables:
                try:
                    tables[p] = read_table(p)
                except FileNotFoundError:
                    raise StudyError(f"{field}.file: no such file {p}") from None
            return tables[p]

        def column(ref: ColumnRef, field: str, name: str) -> pd.Series:
            t = table(ref.file, field)
            if name not in t.columns:
                raise StudyError(f"{field}: column {name!r} is not in {ref.file} (columns: "
                                 f"{', '.join(map(str, t.columns[:20]))})")
            return t[name]

        blocks, specs = {}, {}
        for name, spec in modalities.items():
            kind = get_kind(spec.kind)
            if kind.storage == "table" and Path(spec.file).suffix in TABLE_SUFFIXES:
                blocks[name] = table(spec.file, f"{prefix}modalities.{name}")
            else:
                path = self.resolve(spec.file)
                if not path.exists():
                    raise StudyError(f"{prefix}modalities.{name}.file: no such file {path}")
                blocks[name] = kind.read(path)
            specs[name] = spec.to_modality()
        if isinstance(outcome, SurvivalRef):
            obs = _survival_obs(column(outcome, f"{prefix}outcome.time", outcome.time),
                                column(outcome, f"{prefix}outcome.event", outcome.event),
                                f"{prefix}outcome")
        else:
            obs = pd.DataFrame({outcome.column: column(outcome, f"{prefix}outcome.column",
                                                       outcome.column)})
        for key, ref in (("batch", self.batch), ("group", self.groups)):
            if ref is None:
                continue
            if prefix:
                files = [outcome.file] + [m.file for m in modalities.values()]
                found = [table(f, f"{prefix}outcome") for f in files]
                found = [t[ref.column] for t in found if ref.column in t.columns]
                if not found:
                    continue
                values = found[0]
            else:
                field = "batch" if key == "batch" else "groups"
                values = column(ref, f"{field}.column", ref.column)
            obs = obs.join(values.rename(key), how="outer")
            if ref.column not in obs.columns:
                obs[ref.column] = obs[key]
        measured = set().union(*(set(map(str, b[0] if isinstance(b, tuple) else b.index))
                                 for b in blocks.values()))
        orphans = [i for i in obs.index if i not in measured]
        if orphans:
            warnings.warn(
                f"{prefix}outcome: {len(orphans)} subject(s) have an outcome but no modality "
                f"file row and are left out: {', '.join(map(repr, orphans[:5]))}"
                + (" ..." if len(orphans) > 5 else ""), stacklevel=3)
            obs = obs.drop(index=orphans)
        try:
            return MultiModalData(blocks, obs=obs, modalities=specs,
                                  outcome=getattr(outcome, "column", None))
        except DataValidationError as err:
            raise StudyError(f"data: {err}") from None


def _survival_obs(time: pd.Series, event: pd.Series, field: str) -> pd.DataFrame:
    """obs columns ``time`` (float, >= 0) and ``event`` (bool) from the study's columns; the
    event column may be 0/1, true/false or yes/no."""
    t = pd.to_numeric(time, errors="coerce")
    bad = t.isna() | (t < 0)
    if bad.any():
        raise StudyError(f"{field}.time: {int(bad.sum())} subject(s) have a missing, "
                         f"non-numeric or negative time: "
                         f"{', '.join(map(repr, list(t.index[bad])[:5]))}")
    words = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False,
             "1.0": True, "0.0": False}
    e = event.map(lambda v: words.get(str(v).strip().lower()))
    if e.isna().any():
        raise StudyError(f"{field}.event: {int(e.isna().sum())} subject(s) have an event "
                         f"value that is not 0/1, true/false or yes/no: "
                         f"{', '.join(map(repr, list(e.index[e.isna()])[:5]))}")
    return pd.DataFrame({"time": t.astype(float), "event": e.astype(bool)})


_UNION_TAGS = ("ColumnRef", "SurvivalRef", "str", "list[str]", "dict[str,ModalitySpec]")


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]
                       if str(p) not in _UNION_TAGS
                       and not str(p).startswith(("function-", "literal[")))
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{loc or 'study'}: {msg}")
    return "; ".join(dict.fromkeys(lines))


def parse_study(raw: dict, base_dir: str | Path = ".") -> Study:
    """Validate a study given as a dict (what the YAML holds)."""
    if not isinstance(raw, dict):
        raise StudyError("study: the file must hold a mapping (name: ..., modalities: ...)")
    try:
        return Study(**raw, base_dir=Path(base_dir).resolve())
    except ValidationError as err:
        raise StudyError(f"Invalid study file: {_format_errors(err)}") from None
    except TypeError as err:
        raise StudyError(f"Invalid study file: {err}") from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study YAML file."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"No such study file: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise StudyError(f"{path} is not valid YAML: {err}") from None
    return parse_study(raw, base_dir=path.parent)
