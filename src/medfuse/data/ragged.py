"""RaggedBlock: one array per subject, each of its own shape, with per-subject metadata.

Raw modalities rarely share a shape: CT volumes differ in size and voxel spacing, sensor
streams in length and sampling times. A :class:`RaggedBlock` keeps each subject's array as it
is (never padded or resampled), optional companion arrays per subject (``mask`` for an image,
``timestamps`` for a stream) and a metadata table (``spacing``, ``origin``, ``direction`` ...).
Representations (:mod:`medfuse.represent`) turn it into a feature block.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data.validation import DataValidationError, as_id_index, preview

_SEP = "/"  # separates field and subject position in npz member names


class RaggedBlock:
    """Per-subject arrays of their own shapes, with companions and metadata.

    Parameters
    ----------
    ids : sequence of str, length n
        Subject IDs (unique; compared as strings).
    values : sequence of ndarray or None, length n
        One array per subject (e.g. ``C x H x W x D`` image, ``C x T`` series); shapes may
        differ between subjects. None marks a subject without a value (in a block aligned to
        a cohort; such rows are never used).
    fields : mapping of str -> sequence of ndarray or None, optional
        Companion arrays per subject, e.g. ``mask`` (same spatial shape as the image, 0/1)
        or ``timestamps`` (one per time point, seconds).
    meta : DataFrame, optional
        Per-subject metadata indexed by subject ID (e.g. ``spacing`` in mm, ``origin`` in mm
        and ``direction`` cosines, as tuples); subjects left out get NaN.

    Notes
    -----
    Arrays are stored as given (float arrays are not copied); the block itself is treated as
    immutable: every operation returns a new block sharing the arrays.
    """

    def __init__(self, ids: Sequence, values: Sequence[np.ndarray | None],
                 fields: Mapping[str, Sequence[np.ndarray | None]] | None = None,
                 meta: pd.DataFrame | None = None) -> None:
        self._ids = as_id_index(ids)
        dup = self._ids[self._ids.duplicated()]
        if len(dup):
            raise DataValidationError(f"RaggedBlock has duplicate subject IDs: "
                                      f"{preview(dup.unique())}.")
        self._values = [_as_array(v) for v in values]
        if len(self._values) != len(self._ids):
            raise DataValidationError(f"RaggedBlock: {len(self._ids)} subject IDs but "
                                      f"{len(self._values)} arrays.")
        self._fields: dict[str, list[np.ndarray | None]] = {}
        for name, arrays in dict(fields or {}).items():
            arrays = [_as_array(a) for a in arrays]
            if len(arrays) != len(self._ids):
                raise DataValidationError(f"RaggedBlock field {name!r} has {len(arrays)} "
                                          f"arrays for {len(self._ids)} subjects.")
            self._fields[str(name)] = arrays
        if meta is None:
            meta = pd.DataFrame(index=self._ids)
        else:
            meta = meta.set_axis(as_id_index(meta.index), axis=0)
            unknown = meta.index.difference(self._ids)
            if len(unknown):
                raise DataValidationError(f"RaggedBlock meta has rows for unknown subjects "
                                          f"{preview(unknown)}.")
            meta = meta.reindex(self._ids)
        self._meta = meta

    # -------------------------------------------------------------- access
    @property
    def ids(self) -> pd.Index:
        """Subject IDs, in row order."""
        return self._ids

    @property
    def index(self) -> pd.Index:
        """Alias of :attr:`ids` (as for a DataFrame block)."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def values(self) -> list[np.ndarray | None]:
        """The per-subject arrays (a new list; the arrays are shared)."""
        return list(self._values)

    @property
    def field_names(self) -> list[str]:
        """Names of the companion fields."""
        return list(self._fields)

    def field(self, name: str) -> list[np.ndarray | None]:
        """The per-subject arrays of one companion field (e.g. ``"mask"``)."""
        if name not in self._fields:
            raise KeyError(f"No field {name!r}; this block has {self.field_names}.")
        return list(self._fields[name])

    @property
    def meta(self) -> pd.DataFrame:
        """Per-subject metadata, one row per subject (a copy)."""
        return self._meta.copy()

    @property
    def shapes(self) -> list[tuple[int, ...] | None]:
        """Per-subject array shapes (None where a subject has no value)."""
        return [None if v is None else tuple(v.shape) for v in self._values]

    def item(self, i: int) -> dict:
        """Everything stored for the subject at position ``i``: ``values``, each field, and
        the metadata entries."""
        out: dict = {"values": self._values[i]}
        out.update({k: v[i] for k, v in self._fields.items()})
        out.update({str(k): v for k, v in self._meta.iloc[i].items()})
        return out

    # -------------------------------------------------------------- subsets
    def take(self, positions) -> RaggedBlock:
        """Rows at the given positions (int array, boolean mask or slice)."""
        idx = np.arange(len(self))[positions]
        idx = np.atleast_1d(idx)
        return self._new(self._ids[idx], [self._values[i] for i in idx],
                         {k: [v[i] for i in idx] for k, v in self._fields.items()},
                         self._meta.iloc[idx])

    def reindex(self, ids: Sequence) -> RaggedBlock:
        """Rows in the order of ``ids``; unknown IDs get no value (None) and NaN metadata."""
        ids = as_id_index(ids)
        pos = self._ids.get_indexer(ids)

        def pick(arrays):
            return [arrays[p] if p >= 0 else None for p in pos]

        return self._new(ids, pick(self._values),
                         {k: pick(v) for k, v in self._fields.items()},
                         self._meta.reindex(ids))

    @classmethod
    def concat(cls, blocks: Sequence[RaggedBlock]) -> RaggedBlock:
        """Stack blocks with the same fields (subject IDs must not repeat)."""
        names = blocks[0].field_names
        for b in blocks[1:]:
            if b.field_names != names:
                raise DataValidationError(f"Cannot concat ragged blocks with fields "
                                          f"{b.field_names} and {names}.")
        ids = pd.Index(np.concatenate([np.asarray(b.ids, dtype=object) for b in blocks]))
        return cls(ids, [v for b in blocks for v in b._values],
                   {k: [v for b in blocks for v in b._fields[k]] for k in names},
                   pd.concat([b._meta for b in blocks]))

    @classmethod
    def _new(cls, ids, values, fields, meta) -> RaggedBlock:
        new = cls.__new__(cls)
        new._ids = pd.Index(ids, dtype=object, name="subject")
        new._values, new._fields = values, fields
        new._meta = meta.set_axis(new._ids, axis=0)
        return new

    # -------------------------------------------------------------- equality, hashing
    def equals(self, other: RaggedBlock) -> bool:
        """Same IDs, arrays (NaN equal to NaN), fields and metadata."""
        if not isinstance(other, RaggedBlock) or not self._ids.equals(other._ids):
            return False
        if self.field_names != other.field_names:
            return False
        pairs = list(zip(self._values, other._values, strict=True))
        for k in self._fields:
            pairs += list(zip(self._fields[k], other._fields[k], strict=True))
        for a, b in pairs:
            if (a is None) != (b is None):
                return False
            if a is not None and (a.shape != b.shape
                                  or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f")):
                return False
        return meta_json(self._meta) == meta_json(other._meta)

    def digest(self) -> str:
        """A hash of IDs, shapes, values, fields and metadata (for cache keys)."""
        h = hashlib.sha256()
        h.update("\x1f".join(self._ids).encode())
        for arrays in (self._values, *self._fields.values()):
            for a in arrays:
                h.update(b"-" if a is None else repr((a.shape, a.dtype.str)).encode())
                if a is not None:
                    h.update(np.ascontiguousarray(a).tobytes())
        h.update(meta_json(self._meta).encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        ndims = sorted({len(s) for s in self.shapes if s is not None})
        extra = f", fields={self.field_names}" if self._fields else ""
        return (f"RaggedBlock(n_subjects={len(self)}, ndim={ndims}{extra}, "
                f"meta={list(map(str, self._meta.columns))})")

    # -------------------------------------------------------------- files
    def to_npz(self, path: str | Path) -> Path:
        """Write one compressed ``.npz`` (no pickle): member ``ids``, ``meta`` (JSON) and
        ``<field>/<position>`` per array (``values/0`` ...); absent arrays are not written."""
        members: dict[str, np.ndarray] = {
            "ids": np.asarray(self._ids, dtype=str),
            "meta": np.asarray(meta_json(self._meta)),
            "fields": np.asarray(json.dumps(self.field_names)),
        }
        for name, arrays in (("values", self._values), *self._fields.items()):
            for i, a in enumerate(arrays):
                if a is not None:
                    members[f"{name}{_SEP}{i}"] = a
        from medfuse.files import to_bytes, write_file

        path = Path(path)
        write_file(path, to_bytes(lambda f: np.savez_compressed(f, **members)))
        return path

    @classmethod
    def from_npz(cls, path: str | Path) -> RaggedBlock:
        """Read a block written by :meth:`to_npz` (every member's declared size checked
        before it is loaded, see :func:`medfuse.archives.load_npz`)."""
        from medfuse.archives import load_npz

        return cls.from_arrays(load_npz(path), str(path))

    @classmethod
    def from_arrays(cls, members: Mapping[str, np.ndarray], name: str = "the archive"
                    ) -> RaggedBlock:
        """A block from the members of a :meth:`to_npz` archive, already loaded.

        Parameters
        ----------
        members : mapping of str to ndarray
            ``ids``, ``meta``, ``fields`` and ``<field>/<position>``.
        name : str
            The file, as messages name it.

        Returns
        -------
        RaggedBlock
        """
        try:
            ids = [str(i) for i in members["ids"]]
            names = json.loads(str(members["fields"]))
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                raise ValueError("'fields' is not a list of names")
            arrays = {n: [None] * len(ids) for n in ["values", *names]}
            for key, value in members.items():
                field, sep, pos = key.rpartition(_SEP)
                if sep and field in arrays:
                    if not pos.isdigit() or int(pos) >= len(ids):
                        raise ValueError(f"member {key!r} names no subject position")
                    arrays[field][int(pos)] = value
            meta = meta_from_json(str(members["meta"]), ids)
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as err:
            raise DataValidationError(f"{name} is not a ragged block written by medfuse "
                                      f"({err}).") from None
        return cls(ids, arrays.pop("values"), arrays, meta)


def _as_array(v) -> np.ndarray | None:
    if v is None:
        return None
    arr = np.asarray(v)
    if arr.dtype == object:
        raise DataValidationError("RaggedBlock arrays must be numeric, not object arrays.")
    return arr


def meta_json(meta: pd.DataFrame) -> str:
    """Metadata as JSON: columns -> list of values (tuples as lists, NaN as null)."""
    def plain(v):
        if isinstance(v, tuple | list | np.ndarray):
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            return None
        return v

    return json.dumps({str(c): [plain(v) for v in meta[c]] for c in meta.columns})


def meta_from_json(text: str, ids: list[str]) -> pd.DataFrame:
    cols = json.loads(text)
    meta = pd.DataFrame(index=pd.Index(ids, name="subject"))
    for c, values in cols.items():
        meta[c] = pd.Series([tuple(v) if isinstance(v, list) else (np.nan if v is None else v)
                             for v in values], index=meta.index, dtype=object)
    return meta
