"""MultiModalData: several modalities of the same subjects, aligned on subject ID."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from medfuse.data import blocks as _blocks
from medfuse.data.blocks import Block
from medfuse.data.modality import Modality, as_modality
from medfuse.data.validation import DataValidationError, as_id_index, preview


class MultiModalData:
    """Aligned modalities of one cohort, joined on subject ID.

    Every block is indexed by the same subjects (the union over blocks). A subject that lacks
    a modality has ``available[subject, modality] == False`` and its row content is never used.
    Positional indexing (``data[idx]``), ``len`` and ``shape`` make it usable by
    scikit-learn's splitters and ``cross_validate`` unchanged.

    Parameters
    ----------
    blocks : mapping of name -> block
        A tabular block is a DataFrame indexed by subject ID (rows = subjects, columns =
        features). An array block (``image`` N x C x H x W [x D], ``timeseries`` N x C x T) is
        given as ``(subject_ids, ndarray)`` with subjects first, or as a
        :class:`~medfuse.data.RaggedBlock` when each subject's array has its own shape (with
        per-subject companions such as masks or timestamps and metadata such as voxel
        spacing). Rows are matched by ID, never by position.
    obs : DataFrame, optional
        Per-subject metadata indexed by subject ID: outcome(s), time/event, batch, covariates,
        groups. Every obs ID must occur in at least one block.
    modalities : mapping of name -> Modality | kind string, optional
        The kind (and for clinical blocks, measurement scales) of each block: any
        registered kind (:mod:`medfuse.data.kinds`). Default ``continuous`` for DataFrames
        and ``image``/``timeseries`` for arrays with 3-4 / 2 dimensions per subject.
    outcome : str, optional
        The obs column that holds the prediction target (``data.y``).
    uns : dict, optional
        Unstructured annotations (e.g. the simulator's ground truth).

    Notes
    -----
    Subject IDs are compared as strings (``7`` and ``"7"`` are the same subject). A row of a
    tabular block whose values are all NaN is taken as "modality not measured" for
    that subject; a warning lists those subjects.
    """

    def __init__(
        self,
        blocks: Mapping[str, Block | tuple[Sequence, np.ndarray]],
        obs: pd.DataFrame | None = None,
        modalities: Mapping[str, Modality | str] | None = None,
        outcome: str | None = None,
        uns: dict | None = None,
    ) -> None:
        if not blocks:
            raise DataValidationError("MultiModalData needs at least one modality block.")
        modalities = dict(modalities or {})
        unknown = set(modalities) - set(blocks)
        if unknown:
            raise DataValidationError(
                f"Modality specs given for {preview(sorted(unknown))} but no such block; "
                f"blocks are {preview(list(blocks))}."
            )
        specs: dict[str, Modality] = {}
        raw: dict[str, tuple[pd.Index, Any]] = {}
        for name, block in blocks.items():
            name = str(name)
            spec = as_modality(modalities.get(name), block)
            specs[name] = spec
            raw[name] = spec.kind_object.split_ids(name, block)

        order: list = []
        seen: set = set()
        if obs is not None:
            obs = _check_obs(obs)
            in_blocks = set().union(*(set(ids) for ids, _ in raw.values()))
            orphans = [i for i in obs.index if i not in in_blocks]
            if orphans:
                raise DataValidationError(
                    f"obs has {len(orphans)} subject ID(s) absent from every modality block: "
                    f"{preview(orphans)}. Check the ID column of each file, or drop these "
                    "subjects from obs."
                )
            for i in obs.index:
                order.append(i)
                seen.add(i)
        for ids, _ in raw.values():
            for i in ids:
                if i not in seen:
                    seen.add(i)
                    order.append(i)
        subjects = pd.Index(order, name="subject")

        aligned: dict[str, Block] = {}
        available = np.zeros((len(subjects), len(raw)), dtype=bool)
        for j, (name, (ids, values)) in enumerate(raw.items()):
            block, present = specs[name].kind_object.align(name, specs[name], ids, values,
                                                           subjects)
            aligned[name] = block
            available[:, j] = present

        if obs is None:
            obs_aligned = pd.DataFrame(index=subjects)
        else:
            obs_aligned = obs.reindex(subjects)
        if outcome is not None:
            _check_outcome(obs_aligned, outcome)
        self._init(subjects, aligned, available, specs, obs_aligned, outcome, uns or {})

    # ------------------------------------------------------------------ construction helpers
    def _init(self, subjects, blocks, available, specs, obs, outcome, uns) -> None:
        self._subjects: pd.Index = subjects
        self._blocks: dict[str, Block] = blocks
        self._available: np.ndarray = available
        self._specs: dict[str, Modality] = specs
        self._obs: pd.DataFrame = obs
        self._outcome: str | None = outcome
        self.uns: dict = uns

    @classmethod
    def _from_aligned(cls, subjects, blocks, available, specs, obs, outcome, uns) -> MultiModalData:
        new = cls.__new__(cls)
        new._init(subjects, blocks, available, specs, obs, outcome, uns)
        return new

    def _replace(self, **kw) -> MultiModalData:
        state = dict(subjects=self._subjects, blocks=self._blocks, available=self._available,
                     specs=self._specs, obs=self._obs, outcome=self._outcome, uns=self.uns)
        state.update(kw)
        return MultiModalData._from_aligned(**state)

    # ------------------------------------------------------------------ basic properties
    @property
    def subjects(self) -> pd.Index:
        """Subject IDs, in the order of the rows of every block."""
        return self._subjects

    @property
    def modality_names(self) -> list[str]:
        """Modality names, in block order."""
        return list(self._blocks)

    @property
    def modalities(self) -> dict[str, Modality]:
        """Modality specs by name."""
        return dict(self._specs)

    @property
    def kinds(self) -> dict[str, str]:
        """Kind name of each modality."""
        return {name: spec.kind for name, spec in self._specs.items()}

    def storage(self, name: str) -> str:
        """How a modality is stored: ``"table"``, ``"array"`` or ``"ragged"``."""
        return _blocks.storage_of(self._blocks[self._check_name(name)])

    @property
    def available(self) -> pd.DataFrame:
        """Boolean subjects x modalities table: which subject has which modality."""
        return pd.DataFrame(self._available.copy(), index=self._subjects,
                            columns=pd.Index(self.modality_names, name="modality"))

    @property
    def obs(self) -> pd.DataFrame:
        """Per-subject metadata, one row per subject (NaN where a subject has no obs row)."""
        return self._obs

    @property
    def outcome(self) -> str | None:
        """The obs column used as outcome (None without one)."""
        return self._outcome

    @property
    def y(self) -> pd.Series:
        """The outcome column of ``obs``."""
        if self._outcome is None:
            raise AttributeError("This MultiModalData has no outcome; pass outcome='column'.")
        return self._obs[self._outcome]

    def with_outcome(self, outcome: str | None) -> MultiModalData:
        """The same data with another obs column as outcome."""
        if outcome is not None:
            _check_outcome(self._obs, outcome)
        return self._replace(outcome=outcome)

    def __len__(self) -> int:
        return len(self._subjects)

    @property
    def shape(self) -> tuple[int, int]:
        """(n_subjects, n_modalities)."""
        return (len(self._subjects), len(self._blocks))

    def n_features(self, name: str) -> int | None:
        """Number of features of a tabular modality, or of values per subject of an array
        one; None for a ragged modality (each subject has its own shape)."""
        shape = _blocks.value_shape(self._blocks[self._check_name(name)])
        return None if shape is None else int(np.prod(shape))

    def feature_names(self, name: str) -> list[str] | None:
        """Column names of a tabular modality; None for array and ragged modalities."""
        return _blocks.feature_names(self._blocks[self._check_name(name)])

    def _check_name(self, name: str) -> str:
        if name not in self._blocks:
            raise KeyError(
                f"No modality {name!r}; this data has {preview(self.modality_names, 20)}."
            )
        return name

    # ------------------------------------------------------------------ block access
    def block(self, name: str, available_only: bool = True) -> Block:
        """The block of one modality.

        Parameters
        ----------
        name : str
            Modality name.
        available_only : bool
            If True (default), only the rows of subjects that have the modality; otherwise all
            subjects, with unusable content in rows of subjects that lack it.

        Returns
        -------
        DataFrame (subjects x features, indexed by subject ID), ndarray (subjects first) or
        RaggedBlock.
        """
        j = self.modality_names.index(self._check_name(name))
        block = self._blocks[name]
        if not available_only:
            return block
        return _blocks.select_rows(block, self._available[:, j])

    def block_subjects(self, name: str) -> pd.Index:
        """IDs of the subjects that have a modality."""
        j = self.modality_names.index(self._check_name(name))
        return self._subjects[self._available[:, j]]

    def __getitem__(self, key) -> MultiModalData:
        """Positional indexing over subjects (int, slice, int or boolean array)."""
        if isinstance(key, str):
            raise TypeError(
                "MultiModalData is indexed by subject position; use data.block(name) for a "
                "modality or data.loc(ids) for subjects by ID."
            )
        idx = np.arange(len(self))[key]
        idx = np.atleast_1d(idx)
        return self._take(idx)

    def _take(self, idx: np.ndarray) -> MultiModalData:
        blocks = {n: _blocks.take(b, idx) for n, b in self._blocks.items()}
        return self._replace(subjects=self._subjects[idx], blocks=blocks,
                             available=self._available[idx], obs=self._obs.iloc[idx])

    def loc(self, ids: Iterable) -> MultiModalData:
        """Subjects by ID, in the given order; unknown IDs raise an error naming them."""
        ids = list(ids)
        pos = self._subjects.get_indexer(ids)
        missing = [i for i, p in zip(ids, pos, strict=True) if p < 0]
        if missing:
            raise KeyError(f"Unknown subject ID(s): {preview(missing)}.")
        return self._take(pos)

    # ------------------------------------------------------------------ modality subsets
    def select(self, names: Iterable[str]) -> MultiModalData:
        """Keep only the named modalities (in that order); subjects left with none are dropped
        with a warning that lists them."""
        names = [self._check_name(n) for n in names]
        if not names:
            raise DataValidationError("select() needs at least one modality.")
        cols = [self.modality_names.index(n) for n in names]
        new = self._replace(blocks={n: self._blocks[n] for n in names},
                            specs={n: self._specs[n] for n in names},
                            available=self._available[:, cols])
        return new._drop_empty_subjects(f"modalities {names}")

    def drop_modalities(self, names: Iterable[str] | str) -> MultiModalData:
        """Remove modalities; subjects left with none are dropped with a warning."""
        names = [names] if isinstance(names, str) else list(names)
        for n in names:
            self._check_name(n)
        return self.select([n for n in self.modality_names if n not in names])

    def hide(self, modalities: Iterable[str] | str, subjects: Iterable | None = None
             ) -> MultiModalData:
        """Mark modalities as unavailable (for all subjects, or the given IDs) without
        removing them: the shape of the data and the subjects stay the same. Used to score
        models as if modalities were missing."""
        modalities = [modalities] if isinstance(modalities, str) else list(modalities)
        avail = self._available.copy()
        rows = (np.ones(len(self), dtype=bool) if subjects is None
                else self._subjects.isin(list(subjects)))
        for n in modalities:
            avail[rows, self.modality_names.index(self._check_name(n))] = False
        return self._replace(available=avail)

    def with_available(self, available: pd.DataFrame | np.ndarray) -> MultiModalData:
        """The same data with an availability mask restricted to ``available`` (which can only
        remove modalities: a subject never gains a modality it was not measured on)."""
        mask = np.asarray(
            available.reindex(index=self._subjects, columns=self.modality_names).fillna(False)
            if isinstance(available, pd.DataFrame) else available, dtype=bool)
        if mask.shape != self._available.shape:
            raise DataValidationError(
                f"availability mask has shape {mask.shape}; expected {self._available.shape}.")
        return self._replace(available=self._available & mask)

    def with_blocks(self, blocks: Mapping[str, Any],
                    modalities: Mapping[str, Modality | str] | None = None) -> MultiModalData:
        """The same subjects, obs and availability with some modalities' blocks replaced
        (e.g. raw images by their features).

        Each new block holds the rows of the subjects that have the modality, given as for
        the constructor (a DataFrame indexed by ID, ``(ids, ndarray)`` or a RaggedBlock) and
        validated by its kind (``modalities``: the new kind, default from the block). A
        subject that has the modality but no row in the new block loses it.
        """
        new_blocks, specs = dict(self._blocks), dict(self._specs)
        avail = self._available.copy()
        for name, block in blocks.items():
            j = self.modality_names.index(self._check_name(name))
            spec = as_modality((modalities or {}).get(name), block)
            ids, values = spec.kind_object.split_ids(name, block)
            aligned, present = spec.kind_object.align(name, spec, ids, values, self._subjects)
            new_blocks[name], specs[name] = aligned, spec
            avail[:, j] &= present
        return self._replace(blocks=new_blocks, specs=specs, available=avail)

    def with_imputed(self, name: str, block: pd.DataFrame) -> MultiModalData:
        """The same data with one tabular modality filled in: every subject with a row in
        ``block`` (indexed by subject ID, the modality's columns) has the modality afterwards.

        The one way a subject gains a modality it was not measured on; the IDs so filled are
        listed in ``uns["imputed"][name]`` (a new ``uns`` dict, the old one is not changed).
        """
        j = self.modality_names.index(self._check_name(name))
        spec = self._specs[name]
        ids, values = spec.kind_object.split_ids(name, block)
        aligned, present = spec.kind_object.align(name, spec, ids, values, self._subjects)
        avail = self._available.copy()
        gained = present & ~avail[:, j]
        avail[:, j] |= present
        imputed = dict(self.uns.get("imputed", {}))
        imputed[name] = sorted(set(imputed.get(name, [])) | set(self._subjects[gained]))
        return self._replace(blocks={**self._blocks, name: aligned}, available=avail,
                             uns={**self.uns, "imputed": imputed})

    def with_obs(self, obs: pd.DataFrame) -> MultiModalData:
        """The same subjects and blocks with ``obs`` (indexed by subject ID) in place of
        theirs; subjects without a row get NaN, and the outcome column must stay."""
        aligned = _check_obs(obs).reindex(self._subjects)
        if self._outcome is not None:
            _check_outcome(aligned, self._outcome)
        return self._replace(obs=aligned)

    def _drop_empty_subjects(self, context: str) -> MultiModalData:
        keep = self._available.any(axis=1)
        if keep.all():
            return self
        warnings.warn(
            f"{int((~keep).sum())} subject(s) have none of {context} and were excluded: "
            f"{preview(self._subjects[~keep])}.", stacklevel=3)
        return self._take(np.flatnonzero(keep))

    # ------------------------------------------------------------------ combination
    @classmethod
    def concat(cls, parts: Sequence[MultiModalData], label: str | None = None,
               keys: Sequence[str] | None = None) -> MultiModalData:
        """Stack cohorts with the same modalities (e.g. a train and a test split).

        Subject IDs must be unique across parts. With ``label``, an obs column of that name
        records which part (``keys``) each subject came from.
        """
        if not parts:
            raise DataValidationError("concat() needs at least one MultiModalData.")
        first = parts[0]
        for p in parts[1:]:
            if p.modality_names != first.modality_names:
                raise DataValidationError(
                    f"Cannot concat cohorts with modalities {p.modality_names} and "
                    f"{first.modality_names}.")
            for n in first.modality_names:
                if p.feature_names(n) != first.feature_names(n):
                    raise DataValidationError(f"Modality {n!r} has different features across "
                                              "the cohorts to concat.")
        subjects = pd.Index(np.concatenate([np.asarray(p.subjects, dtype=object)
                                            for p in parts]), name="subject")
        dup = subjects[subjects.duplicated()]
        if len(dup):
            raise DataValidationError(f"Subject IDs occur in several cohorts: {preview(dup)}.")
        blocks = {n: _blocks.concat([p._blocks[n] for p in parts])
                  for n in first.modality_names}
        obs_parts = []
        keys = list(keys) if keys is not None else [str(i) for i in range(len(parts))]
        for key, p in zip(keys, parts, strict=True):
            o = p.obs.copy()
            if label is not None:
                o[label] = key
            obs_parts.append(o)
        obs = pd.concat(obs_parts)
        obs.index.name = "subject"
        return cls._from_aligned(subjects, blocks, np.vstack([p._available for p in parts]),
                                 dict(first._specs), obs, first.outcome, dict(first.uns))

    # ------------------------------------------------------------------ display
    def summary_frame(self) -> pd.DataFrame:
        """One row per modality: kind, number of features, subjects with it, share missing,
        and ``constant``: the number of zero-variance features over the subjects that have
        the modality (tabular modalities; None for array modalities)."""
        rows = []
        for j, name in enumerate(self.modality_names):
            present = self._available[:, j]
            n_avail = int(present.sum())
            block = self._blocks[name]
            rows.append({
                "modality": name,
                "kind": str(self._specs[name].kind),
                "features": _blocks.describe(block, present),
                "subjects": n_avail,
                "missing": 1 - n_avail / max(len(self), 1),
                "constant": (int(constant_columns(block.loc[present]).sum())
                             if isinstance(block, pd.DataFrame) else None),
            })
        return pd.DataFrame(rows).set_index("modality")

    def summary(self):
        """A rich Table describing the modalities, availability and outcome; its caption
        also says what happens to zero-variance features (per the modality's kind) and
        repeats the notes of ``uns["notes"]`` (e.g. columns of a modality file that a study
        uses as outcome or batch and not as features)."""
        from medfuse.data.summary import summary_table

        return summary_table(self)

    def __repr__(self) -> str:
        mods = ", ".join(f"{n} ({self._specs[n].kind}, {int(self._available[:, j].sum())})"
                         for j, n in enumerate(self.modality_names))
        out = f", outcome={self._outcome!r}" if self._outcome else ""
        return f"MultiModalData(n_subjects={len(self)}, modalities=[{mods}]{out})"


# ---------------------------------------------------------------------- validation helpers
def constant_columns(frame: pd.DataFrame) -> np.ndarray:
    """Boolean per column: at most one distinct value (NaN ignored; an all-NaN column counts
    as constant)."""
    numeric = [pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
               for t in frame.dtypes]
    out = np.zeros(frame.shape[1], dtype=bool)
    idx = np.flatnonzero(numeric)
    if len(idx) and len(frame):
        values = frame.iloc[:, idx].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        out[idx] = ~(hi > lo)
    for j in np.flatnonzero(~np.asarray(numeric, dtype=bool)):
        out[j] = frame.iloc[:, j].nunique(dropna=True) <= 1
    return out


def _check_obs(obs: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(obs, pd.DataFrame):
        raise DataValidationError("obs must be a DataFrame indexed by subject ID.")
    obs = obs.set_axis(as_id_index(obs.index), axis=0)
    dup = obs.index[obs.index.duplicated()]
    if len(dup):
        raise DataValidationError(f"obs has duplicate subject IDs: {preview(dup.unique())}.")
    return obs


def _check_outcome(obs: pd.DataFrame, outcome: str) -> None:
    if outcome not in obs.columns:
        raise DataValidationError(
            f"Outcome column {outcome!r} is not in obs (columns: {preview(obs.columns, 20)}).")
    values = obs[outcome].dropna()
    if values.empty:
        raise DataValidationError(f"Outcome {outcome!r} has no value for any subject.")
    if values.nunique() < 2:
        raise DataValidationError(
            f"Outcome {outcome!r} has a single class ({preview(values.unique())}); a "
            "classifier needs at least two.")
