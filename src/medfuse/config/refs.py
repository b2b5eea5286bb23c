"""Sections that point at files: columns, outcomes, modality files, an external test set."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medfuse.config.streams import StreamRef
from medfuse.data.modality import Modality


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
    :mod:`medfuse.data.kinds`), or one scan per subject.

    Parameters
    ----------
    file : str, optional
        The modality's file, relative to the study file; tables are ``.csv``, ``.tsv`` or
        ``.parquet`` with the subject ID in the first column, other files are read by the
        kind.
    images : str, optional
        Instead of ``file``, for ``kind: image``: where each subject's scan is, a path
        relative to the study file with ``{subject}`` standing for the subject ID, e.g.
        ``scans/{subject}/ct.nii.gz`` (NIfTI, a DICOM file or a folder holding one DICOM
        series; see :func:`medfuse.imaging.io.read_scan`). A subject of the outcome file
        whose scan is missing has no value in this modality (a warning names it).
    masks : str, optional
        With ``images``: each subject's region of interest, the same way (NIfTI on the
        scan's grid, DICOM SEG or RTSTRUCT).
    mask_label : int or str, optional
        The label, segment or ROI of the masks to use when they hold several.
    stream : StreamRef, optional
        With ``file`` and ``kind: timeseries``: the file is a long table of sensor samples
        (subject or night, ``time``, ``channel``, ``value``, optional ``unit``) and these
        channels form the modality's stream (see :func:`medfuse.streams.read_streams`).
    kind : str
        A registered kind name (default ``continuous``).
    scales : dict of str to str
        For ``clinical`` modalities, column -> measurement scale (``nominal``,
        ``ordinal``, ``interval``, ``ratio``, ``text``); other columns are inferred.
    allow_nan : bool, optional
        Whether NaN cells may occur in a measured row (default: the kind's rule, yes for
        ``clinical`` only).
    """

    file: str | None = None
    images: str | None = None
    masks: str | None = None
    mask_label: int | str | None = None
    stream: StreamRef | None = None
    kind: str = "continuous"
    scales: dict[str, str] = Field(default_factory=dict,
                                   description="clinical: column -> measurement scale")
    allow_nan: bool | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModalitySpec:
        if (self.file is None) == (self.images is None):
            raise ValueError("give either file (one file for every subject) or images (one "
                             "scan per subject, with {subject} in the path)")
        if self.images is not None:
            if self.kind != "image":
                raise ValueError(f"images: is for kind: image, not {self.kind!r}")
            for field, value in (("images", self.images), ("masks", self.masks)):
                if value is not None and "{subject}" not in value:
                    raise ValueError(f"{field}: {value!r} must contain {{subject}}, which "
                                     "stands for each subject's ID")
        elif self.masks is not None or self.mask_label is not None:
            raise ValueError("masks and mask_label go with images, not with file")
        if self.stream is not None and self.kind != "timeseries":
            raise ValueError(f"stream: is for kind: timeseries, not {self.kind!r}")
        return self

    @property
    def source(self) -> str:
        """The file, or the scans' path pattern (how messages name the modality's data)."""
        return self.file if self.file is not None else str(self.images)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from medfuse.data.kinds import kind_names

        if v not in kind_names():
            raise ValueError(f"unknown kind {v!r}; registered kinds: {', '.join(kind_names())}")
        return v

    def to_modality(self) -> Modality:
        return Modality(self.kind, scales=self.scales, allow_nan=self.allow_nan)


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
