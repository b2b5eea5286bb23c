"""The contract of a modality kind.

A kind is one object that declares everything medfuse needs to know about one sort of
measurement: how its files are read and written, how a subject's value is stored and
validated, its default preprocessing, how it becomes a feature block, its kernel and its
neural encoder. The rest of the code asks the kind (``get_kind(spec.kind)``) instead of
branching on kind names.

Capabilities say which strategies can use a kind (a strategy declares what it ``needs``):

- ``"features"``: the kind becomes a feature matrix (:meth:`Kind.featurizer`);
- ``"tabular"``: a numeric table of named columns that linear models use directly;
- ``"encoder"``: a neural encoder exists for it (:attr:`Kind.encoder`).

A kind names its modelling defaults by registered name (the preprocessing and neural input
of :mod:`medfuse.preprocess.registry`, the features of :mod:`medfuse.represent`, the
encoder of :mod:`medfuse.fusion.neural.encoders`, the kernel of ``mkl``), so this layer
imports none of them; a third-party kind may return transformers of its own instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from medfuse.data.blocks import Block
from medfuse.data.ragged import RaggedBlock
from medfuse.data.validation import (
    DataValidationError,
    as_id_index,
    check_finite_array,
    check_unique_columns,
    check_unique_ids,
    preview,
)

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


class ModalitySpec(Protocol):
    """What a kind reads of a modality's specification (:class:`medfuse.data.Modality`)."""

    kind: str
    scales: Mapping[str, Any]

    @property
    def nan_allowed(self) -> bool: ...


class Kind:
    """Base of every modality kind (see the module docstring).

    Attributes
    ----------
    name : str
        The kind's name in study files, manifests and ``Modality(kind=...)``.
    storage : {"table", "array", "ragged"}
        How a subject's value is stored by default (array kinds also accept ragged blocks).
    capabilities : frozenset of str
        Subset of ``{"features", "tabular", "encoder"}``.
    nan_allowed : bool
        Whether NaN cells are valid in a present row unless the modality says otherwise.
    encoder : str or None
        Name of the default neural encoder (:mod:`medfuse.fusion.neural.encoders`).
    kernel : str
        Default kernel of the ``mkl`` strategy: ``"auto"`` (linear or RBF, chosen by inner
        CV), ``"clinical"`` or ``"spectrum"``.
    suffixes : tuple of str
        File endings this kind reads; a file of a folder without a manifest is read by the
        kind of highest ``priority`` that claims it (the first registered among equals).
    priority : int
        Rank among the kinds that claim the same file (default 0, the built-in kinds'); a
        plugin kind that reads ``.csv`` files of its own layout sets a higher one and checks
        the header in :meth:`claims`.
    preprocessing : str or None
        Registered transform name of the default preprocessing (:meth:`default_preprocessor`).
    features : str or None
        Registered representation name of the features when no preprocessor makes a
        matrix (:meth:`featurizer`).
    neural_preprocessing : str or None
        Registered transform name of what the neural encoder sees when the modality has no
        preprocessor (:meth:`neural_input`).
    harmonizers : tuple of str
        Batch harmonization methods of a study file's ``harmonize:`` section that apply to
        this kind (``"ComBat"``, ``"ComBat-seq"``); empty: the kind is not harmonized.
    constant_features : str
        What the default preprocessing does with a zero-variance feature (shown in the data
        summary).
    max_columns : int or None
        The most columns one table of this kind may have (None: ``MEDFUSE_MAX_COLUMNS``,
        see :mod:`medfuse.limits`); a kind wide by nature (methylation arrays) sets more.
    screening_scale : str or None
        The values a study's ``screening:`` section ranks this kind's features on
        (:class:`~medfuse.preprocess.screening.FeatureScreen` ``scale``: ``"raw"``, or
        ``"log-cpm"`` for counts); None: the kind is not screened.
    """

    name: ClassVar[str] = ""
    storage: ClassVar[str] = "table"
    capabilities: ClassVar[frozenset[str]] = frozenset({"features", "tabular", "encoder"})
    nan_allowed: ClassVar[bool] = False
    encoder: ClassVar[str | None] = "mlp"
    kernel: ClassVar[str] = "auto"
    suffixes: ClassVar[tuple[str, ...]] = TABLE_SUFFIXES
    priority: ClassVar[int] = 0
    preprocessing: ClassVar[str | None] = None
    features: ClassVar[str | None] = None
    neural_preprocessing: ClassVar[str | None] = None
    harmonizers: ClassVar[tuple[str, ...]] = ()
    constant_features: ClassVar[str] = "kept as they are"
    screening_scale: ClassVar[str | None] = None
    max_columns: ClassVar[int | None] = None

    # ------------------------------------------------------------------ files
    def claims(self, path: Path) -> bool:
        """Whether a file of a folder without manifest is a modality of this kind (default:
        its ending is one of :attr:`suffixes`; a kind may also read the header, see
        :func:`medfuse.data.tables.header_names`)."""
        return path.suffix in self.suffixes

    def read(self, path: Path) -> Any:
        """The block held by a file (what :class:`MultiModalData` takes for this kind)."""
        from medfuse.data.tables import read_table

        return read_table(path, max_columns=self.max_columns)

    def write(self, block: Block, ids: pd.Index, folder: Path, name: str, fmt: str) -> str:
        """Write the rows of the subjects that have the modality; returns the file name."""
        from medfuse.data.tables import write_table

        file = f"{name}.{fmt}"
        write_table(block, folder / file)
        return file

    # ------------------------------------------------------------------ storage
    def split_ids(self, name: str, block: Any) -> tuple[pd.Index, Any]:
        """Separate what the user gave into (subject IDs, values); IDs must be unique."""
        if not isinstance(block, pd.DataFrame):
            raise DataValidationError(
                f"Modality {name!r} must be a DataFrame indexed by subject ID, got "
                f"{type(block).__name__}.")
        ids = as_id_index(block.index)
        check_unique_ids(name, ids)
        return ids, block.set_axis(ids, axis=0)

    def align(self, name: str, spec: ModalitySpec, ids: pd.Index, values: Any,
              subjects: pd.Index) -> tuple[Block, np.ndarray]:
        """Validate a block and reindex it to all ``subjects``; returns (block, present)."""
        import warnings

        present = subjects.isin(ids)
        frame = values.copy()
        frame.columns = [str(c) for c in frame.columns]
        check_unique_columns(name, frame.columns)
        frame = self.coerce(name, frame)
        all_nan = (frame.isna().all(axis=1).to_numpy() if frame.shape[1]
                   else np.zeros(len(frame), bool))
        if all_nan.any():
            warnings.warn(
                f"Modality {name!r}: {int(all_nan.sum())} subject(s) have only missing values "
                f"and are treated as not having this modality: "
                f"{preview(frame.index[all_nan])}.", stacklevel=5)
            present &= ~subjects.isin(frame.index[all_nan])
        self.check(name, spec, frame.loc[~all_nan])
        return frame.reindex(subjects), present

    def coerce(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Convert a table's cells to what the kind stores (default: as given)."""
        return frame

    def check(self, name: str, spec: ModalitySpec, measured: pd.DataFrame) -> None:
        """Validate the rows of subjects who have the modality (default: no NaN unless
        allowed)."""
        from medfuse.data.validation import check_no_nan

        if not spec.nan_allowed:
            check_no_nan(name, measured)

    # ------------------------------------------------------------------ modelling
    def default_preprocessor(self, spec: ModalitySpec):
        """The default preprocessing of the kind's blocks: a registered transform name
        (:mod:`medfuse.preprocess.registry`), an unfitted transformer, or None (default:
        :attr:`preprocessing`)."""
        return self.preprocessing

    def featurizer(self, spec: ModalitySpec):
        """What turns a block into a float feature matrix when no preprocessor is given: a
        registered representation name (:mod:`medfuse.represent`), an unfitted transformer,
        or None when the block already is one (default: :attr:`features`)."""
        return self.features

    def neural_input(self, spec: ModalitySpec, preprocessor):
        """What prepares a block for the neural encoder: the modality's resolved
        ``preprocessor`` (whose output is a float matrix), else :attr:`neural_preprocessing`
        (a registered transform name), else None."""
        return preprocessor if preprocessor is not None else self.neural_preprocessing

    def encoder_for(self, settings) -> str | None:
        """The neural encoder name for this kind under a strategy's settings (default:
        :attr:`encoder`)."""
        return self.encoder

    def default_kernel(self, preprocessor) -> str:
        """The ``mkl`` kernel of this kind given its fitted preprocessor (a preprocessor
        may declare the kernel its output needs as ``mkl_kernel``)."""
        return getattr(preprocessor, "mkl_kernel", self.kernel)

    def infer(self, block: Any) -> bool:
        """Whether a block given without a kind looks like this kind (used to choose a
        default kind for arrays)."""
        return False

    def example(self, ids: pd.Index, y: np.ndarray, rng: np.random.Generator) -> Any:
        """A small block of this kind whose values carry the binary outcome ``y`` (what the
        conformance checks of :mod:`medfuse.testing` fit on; the known answer is that a
        strategy reading it does better than chance).

        Parameters
        ----------
        ids : Index of str, length n
            Subject IDs.
        y : ndarray of int (n,)
            Outcome, 0 or 1.
        rng : numpy Generator

        Returns
        -------
        block
            What :class:`~medfuse.data.MultiModalData` takes for this kind. The base class
            has none: a third-party kind implements it, or its checks are given a block.
        """
        raise NotImplementedError(f"The modality kind {self.name!r} gives no example block; "
                                  "implement Kind.example or pass block= to the check.")

    def __repr__(self) -> str:
        return f"<modality kind {self.name!r} ({self.storage})>"


class ArrayKind(Kind):
    """A kind whose subjects each hold an array: dense ``(ids, ndarray)`` with subjects
    first, or a :class:`RaggedBlock` (one array of its own shape per subject).

    ``value_ndims`` are the allowed numbers of dimensions of one subject's array.
    """

    storage: ClassVar[str] = "array"
    capabilities: ClassVar[frozenset[str]] = frozenset({"features", "encoder"})
    suffixes: ClassVar[tuple[str, ...]] = (".npz",)
    features: ClassVar[str | None] = "flatten"
    neural_preprocessing: ClassVar[str | None] = "channel-standardizer"
    value_ndims: ClassVar[tuple[int, ...]] = ()

    def read(self, path: Path) -> Any:
        from medfuse.archives import load_npz

        arrays = load_npz(path)
        if "fields" in arrays:
            return RaggedBlock.from_arrays(arrays, str(path))
        missing = {"ids", "values"} - set(arrays)
        if missing:
            raise DataValidationError(f"{path} has no member(s) {sorted(missing)}: an array "
                                      "file holds 'ids' and 'values'.")
        return ([str(i) for i in arrays["ids"]], arrays["values"])

    def write(self, block: Block, ids: pd.Index, folder: Path, name: str, fmt: str) -> str:
        from medfuse.files import to_bytes, write_file

        file = f"{name}.npz"
        if isinstance(block, RaggedBlock):
            block.to_npz(folder / file)
        else:
            write_file(folder / file, to_bytes(lambda f: np.savez_compressed(
                f, ids=np.asarray(ids, dtype=str), values=block)))
        return file

    def infer(self, block: Any) -> bool:
        if isinstance(block, RaggedBlock):
            shapes = [s for s in block.shapes if s is not None]
            return bool(shapes) and len(shapes[0]) in self.value_ndims
        arr = block[1] if isinstance(block, tuple) and len(block) == 2 else block
        return isinstance(arr, np.ndarray) and arr.ndim - 1 in self.value_ndims

    def split_ids(self, name: str, block: Any) -> tuple[pd.Index, Any]:
        if isinstance(block, RaggedBlock):
            return block.ids, block
        if not (isinstance(block, tuple) and len(block) == 2):
            raise DataValidationError(
                f"Modality {name!r} ({self.name}) must be given as (subject_ids, ndarray) or a "
                "RaggedBlock; an array without IDs would be aligned by row position, which "
                "medfuse never does.")
        ids, values = as_id_index(block[0]), np.asarray(block[1])
        if values.shape[0] != len(ids):
            raise DataValidationError(
                f"Modality {name!r}: {len(ids)} subject IDs but {values.shape[0]} array rows.")
        if values.ndim - 1 not in self.value_ndims:
            dims = " or ".join(str(d + 1) for d in self.value_ndims)
            raise DataValidationError(
                f"Modality {name!r} ({self.name}) must have {dims} dimensions (subjects "
                f"first), got shape {values.shape}.")
        check_unique_ids(name, ids)
        return ids, values

    def align(self, name: str, spec: ModalitySpec, ids: pd.Index, values: Any,
              subjects: pd.Index) -> tuple[Block, np.ndarray]:
        present = subjects.isin(ids)
        if isinstance(values, RaggedBlock):
            given = np.array([a is not None for a in values.values], dtype=bool)
            self.check(name, spec, values.take(given))
            present &= subjects.isin(ids[given])
            return values.reindex(subjects), present
        arr = values.astype(np.float32 if values.dtype == np.float32 else np.float64)
        self.check(name, spec, RaggedBlock(ids, list(arr)))
        full = np.full((len(subjects), *arr.shape[1:]), np.nan, dtype=arr.dtype)
        full[subjects.get_indexer(ids[ids.isin(subjects)])] = arr[ids.isin(subjects)]
        return full, present

    def check(self, name: str, spec: ModalitySpec, measured: RaggedBlock) -> None:
        """Validate the subjects who have the modality, as a ragged block (a dense block is
        viewed as one, without copying): each array has one of :attr:`value_ndims`
        dimensions and no NaN (unless allowed) or inf. Kinds add checks of their fields."""
        wrong = [i for i, a in zip(measured.ids, measured.values, strict=True)
                 if a.ndim not in self.value_ndims]
        if wrong:
            dims = " or ".join(map(str, self.value_ndims))
            raise DataValidationError(
                f"Modality {name!r} ({self.name}): each subject's array must have {dims} "
                f"dimensions; subject(s) {preview(wrong)} do not.")
        check_finite_array(name, measured.ids, measured.values, spec.nan_allowed)

