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
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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

if TYPE_CHECKING:
    from medfuse.data.modality import Modality

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


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
        File endings this kind reads; a folder without a manifest is read by the first
        registered kind that claims a file.
    harmonizers : tuple of str
        Batch harmonization methods of a study file's ``harmonize:`` section that apply to
        this kind (``"ComBat"``, ``"ComBat-seq"``); empty: the kind is not harmonized.
    constant_features : str
        What the default preprocessing does with a zero-variance feature (shown in the data
        summary).
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
    harmonizers: ClassVar[tuple[str, ...]] = ()
    constant_features: ClassVar[str] = "kept as they are"
    screening_scale: ClassVar[str | None] = None

    # ------------------------------------------------------------------ files
    def claims(self, path: Path) -> bool:
        """Whether a file of a folder without manifest is a modality of this kind."""
        return path.suffix in self.suffixes

    def read(self, path: Path) -> Any:
        """The block held by a file (what :class:`MultiModalData` takes for this kind)."""
        from medfuse.data.tables import read_table

        return read_table(path)

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

    def align(self, name: str, spec: Modality, ids: pd.Index, values: Any,
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

    def check(self, name: str, spec: Modality, measured: pd.DataFrame) -> None:
        """Validate the rows of subjects who have the modality (default: no NaN unless
        allowed)."""
        from medfuse.data.validation import check_no_nan

        if not spec.nan_allowed:
            check_no_nan(name, measured)

    # ------------------------------------------------------------------ modelling
    def default_preprocessor(self, spec: Modality):
        """The unfitted default transformer of the kind's blocks (None: none)."""
        return None

    def featurizer(self, spec: Modality):
        """The unfitted transformer that turns a (preprocessed) block into a float feature
        matrix when no preprocessor is given; None when the block already is one."""
        return None

    def neural_input(self, spec: Modality, preprocessor):
        """The transformer that prepares a block for the neural encoder: by default the
        modality's preprocessor (whose output is a float matrix)."""
        return preprocessor

    def encoder_for(self, settings) -> str | None:
        """The neural encoder name for this kind under a strategy's settings (default:
        :attr:`encoder`)."""
        return self.encoder

    def default_kernel(self, preprocessor) -> str:
        """The ``mkl`` kernel of this kind given its fitted preprocessor."""
        return self.kernel

    def infer(self, block: Any) -> bool:
        """Whether a block given without a kind looks like this kind (used to choose a
        default kind for arrays)."""
        return False

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
    value_ndims: ClassVar[tuple[int, ...]] = ()

    def read(self, path: Path) -> Any:
        if _is_ragged_npz(path):
            return RaggedBlock.from_npz(path)
        with np.load(path, allow_pickle=False) as z:
            return ([str(i) for i in z["ids"]], z["values"])

    def write(self, block: Block, ids: pd.Index, folder: Path, name: str, fmt: str) -> str:
        file = f"{name}.npz"
        if isinstance(block, RaggedBlock):
            block.to_npz(folder / file)
        else:
            np.savez_compressed(folder / file, ids=np.asarray(ids, dtype=str), values=block)
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

    def align(self, name: str, spec: Modality, ids: pd.Index, values: Any,
              subjects: pd.Index) -> tuple[Block, np.ndarray]:
        present = subjects.isin(ids)
        if isinstance(values, RaggedBlock):
            arrays = values.values
            wrong = [i for i, a in zip(ids, arrays, strict=True)
                     if a is not None and a.ndim not in self.value_ndims]
            if wrong:
                dims = " or ".join(map(str, self.value_ndims))
                raise DataValidationError(
                    f"Modality {name!r} ({self.name}): each subject's array must have {dims} "
                    f"dimensions; subject(s) {preview(wrong)} do not.")
            given = [a is not None for a in arrays]
            check_finite_array(name, ids[given], [a for a in arrays if a is not None],
                               spec.nan_allowed)
            present &= subjects.isin(ids[given])
            return values.reindex(subjects), present
        arr = values.astype(np.float32 if values.dtype == np.float32 else np.float64)
        flat = arr.reshape(len(arr), -1)
        bad = ~np.isfinite(flat)
        if spec.nan_allowed:
            bad &= ~np.isnan(flat)
        rows = np.flatnonzero(bad.any(axis=1))
        if len(rows):
            raise DataValidationError(
                f"Modality {name!r} has non-finite values (NaN/inf) for subject(s) "
                f"{preview(ids[rows])}.")
        full = np.full((len(subjects), *arr.shape[1:]), np.nan, dtype=arr.dtype)
        full[subjects.get_indexer(ids[ids.isin(subjects)])] = arr[ids.isin(subjects)]
        return full, present

    def featurizer(self, spec: Modality):
        from medfuse.represent.arrays import Flatten

        return Flatten()

    def neural_input(self, spec: Modality, preprocessor):
        from medfuse.preprocess.arrays import ChannelStandardizer

        return ChannelStandardizer() if preprocessor is None else preprocessor


def _is_ragged_npz(path: Path) -> bool:
    with np.load(path, allow_pickle=False) as z:
        return "fields" in z.files
