"""``check_kind``: a modality kind read, validated, stored, written and modelled."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data.kinds import Kind, all_kinds, get_kind
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.data.ragged import RaggedBlock
from medfuse.testing.cohorts import example_cohort
from medfuse.testing.common import Report, check

STORAGES = ("table", "array", "ragged")
CAPABILITIES = frozenset({"features", "tabular", "encoder"})
#: strategies a kind is modelled with, the first that accepts it of each group
CLASSICAL = ("late-mean", "mkl", "unimodal")
NEURAL_SETTINGS = {"n_ensemble": 1, "max_epochs": 40, "patience": 40, "lr": 0.01,
                   "n_threads": 1}


def check_kind(kind, *, block=None, trust=(), n_subjects: int = 40, jobs: int = 2,
               random_state: int = 0) -> list[str]:
    """Check that a modality kind keeps medfuse's kind contract.

    Checks, in order: it is registered under its name; its declarations (storage,
    capabilities, file endings, encoder) are valid; its example block (or ``block``) is
    validated and aligned by subject ID; a bad value (NaN where the kind allows none) is
    refused with a message naming the modality and the subject; it is written to a folder
    and read back equal (with a manifest, and by its file ending without one where it is the
    kind that claims the file); its default preprocessing or featurizer makes one finite
    feature row per subject (capability ``features``), from a table (``tabular``); its
    neural input makes one array of one shape per subject (``encoder``); and a classical
    strategy that accepts it (and ``intermediate`` for ``encoder``) passes the strategy
    checks on a cohort of this kind beside a continuous table: every subset, the known
    answer, determinism, saving, and the benchmark in ``jobs`` worker processes (which must
    see the kind's registration).

    Parameters
    ----------
    kind : str, Kind or Kind subclass
        A registered kind (a class or instance is looked up by its name).
    block : block, optional
        Subjects' values of this kind carrying the outcome (subject IDs ``s000`` ...;
        outcome alternating 0, 1 after shuffling, see :func:`example_cohort`), for a kind
        without :meth:`~medfuse.data.kinds.Kind.example`.
    trust : sequence of str
        Exact names of your own classes the saved models hold.
    n_subjects : int
        Subjects of the cohorts.
    jobs : int
        Worker processes of the benchmark checks.
    random_state : int
        Seed.

    Returns
    -------
    list of str
        The names of the checks passed.

    Raises
    ------
    ConformanceError
        Naming the kind, the check and what went wrong.
    """
    from medfuse.testing.strategy import check_fitted

    name = kind.name if isinstance(kind, Kind) or isinstance(kind, type) else str(kind)
    subject = f"check_kind({name!r})"
    report = Report()
    with check(report, subject, "registered under its name"):
        registered = get_kind(name)
        if isinstance(kind, type | Kind) and type(registered) is not (
                kind if isinstance(kind, type) else type(kind)):
            raise AssertionError(f"the kind registered as {name!r} is "
                                 f"{type(registered).__name__}; call register_kind first")
    k = get_kind(name)
    with check(report, subject, "declares a valid contract"):
        _check_declarations(k)
    blocks = {"m": block} if block is not None else None
    with check(report, subject, "example validated and aligned by subject ID"):
        data = example_cohort({"m": name}, n_subjects, missing=0.0, blocks=blocks,
                              random_state=random_state)
        if int(data.available["m"].sum()) != n_subjects:
            raise AssertionError(f"{int(data.available['m'].sum())} of {n_subjects} subjects "
                                 "have the modality after validation")
        shuffled = data[np.random.default_rng(random_state).permutation(len(data))]
        if not pd.Index(shuffled.block_subjects("m")).equals(pd.Index(shuffled.subjects)):
            raise AssertionError("the block does not follow the subjects' order by ID")
    if not k.nan_allowed:
        with check(report, subject, "a bad value is refused naming modality and subject"):
            _check_bad_value(name, data.block("m"))
    with check(report, subject, "written and read back"):
        _check_round_trip(k, data)
    with check(report, subject, "preprocessing makes features"):
        _check_features(k, data)
    cohort = example_cohort({"m": name, "c": "continuous"}, n_subjects, blocks=blocks,
                            random_state=random_state)
    for strategy in _strategies_for(k):
        label = f"{strategy}:m" if strategy == "unimodal" else strategy
        estimator = _make(label)
        check_fitted(estimator, cohort, label, report, f"{subject} with {label}",
                     trust=trust, jobs=jobs, random_state=random_state,
                     prefix=f"{label}: ")
    return list(report)


def _check_declarations(k: Kind) -> None:
    if k.storage not in STORAGES:
        raise AssertionError(f"storage {k.storage!r} is not one of {STORAGES}")
    unknown = set(k.capabilities) - CAPABILITIES
    if unknown:
        raise AssertionError(f"unknown capabilities {sorted(unknown)}; choose from "
                             f"{sorted(CAPABILITIES)}")
    if not k.suffixes or not all(isinstance(s, str) and s.startswith(".")
                                 for s in k.suffixes):
        raise AssertionError(f"suffixes {k.suffixes!r} must be file endings such as '.csv'")
    if "encoder" in k.capabilities and not isinstance(k.encoder, str):
        raise AssertionError("the capability 'encoder' needs an encoder name")
    if "tabular" in k.capabilities and k.storage != "table":
        raise AssertionError("the capability 'tabular' needs storage 'table'")


def _check_bad_value(name: str, block) -> None:
    """NaN in the first measured subject's first value must be refused, naming both."""
    if isinstance(block, pd.DataFrame):
        bad = block.copy()
        column = bad.columns[0]
        bad[column] = bad[column].astype(object) if bad[column].dtype == object else \
            bad[column].astype(float)
        bad.iloc[0, 0] = np.nan
        subject = str(bad.index[0])
        if bad.shape[1] == 1:  # an all-missing row means the subject lacks the modality
            _check_absent(name, bad, subject)
            return
    else:
        values = [None if v is None else np.array(v, dtype=float) for v in block.values]
        values[0].flat[0] = np.nan
        bad = RaggedBlock(block.ids, values, {f: block.field(f) for f in block.field_names},
                          block.meta)
        subject = str(block.ids[0])
    try:
        MultiModalData({"m": bad}, modalities={"m": name})
    except DataValidationError as err:
        if "'m'" not in str(err) or subject not in str(err):
            raise AssertionError(f"the message does not name the modality 'm' and the "
                                 f"subject {subject!r}: {err}") from None
        return
    raise AssertionError(f"a NaN value of subject {subject!r} was accepted, though the kind "
                         "allows none")


def _check_absent(name: str, bad: pd.DataFrame, subject: str) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = MultiModalData({"m": bad, "other": bad.iloc[:, :0].assign(x=1.0)},
                              modalities={"m": name})
    said = " ".join(str(w.message) for w in caught)
    if data.available.loc[subject, "m"] or "'m'" not in said or subject not in said:
        raise AssertionError(f"a subject whose only value is missing must lose the modality "
                             f"with a warning naming both; got: {said or 'no warning'}")


def _check_round_trip(k: Kind, data: MultiModalData) -> None:
    from medfuse.data.io import MANIFEST, read_folder, write_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(data, Path(tmp) / "cohort")
        back = read_folder(folder)
        _same_block(data.block("m"), back.block("m"), "with a manifest")
        if back.kinds["m"] != k.name:
            raise AssertionError(f"read back as {back.kinds['m']!r}")
        (folder / MANIFEST).unlink()
        file = next(p for p in folder.iterdir() if p.stem == "m")
        top = max((c.priority for c in all_kinds() if c.claims(file)), default=None)
        claimants = [c for c in all_kinds() if c.claims(file) and c.priority == top]
        if k.claims(file) and claimants[0] is k:
            plain = read_folder(folder)
            if plain.kinds["m"] != k.name:
                raise AssertionError(f"without a manifest {file.name} is read as "
                                     f"{plain.kinds['m']!r}")
            _same_block(data.block("m"), plain.block("m"), "without a manifest")


def _same_block(a, b, how: str) -> None:
    if isinstance(a, RaggedBlock):
        same = (isinstance(b, RaggedBlock) and list(a.ids) == list(b.ids)
                and a.field_names == b.field_names
                and all(_close(x, z) for name in ("values", *a.field_names)
                        for x, z in zip(a.values if name == "values" else a.field(name),
                                        b.values if name == "values" else b.field(name),
                                        strict=True)))
    elif isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b.loc[a.index, a.columns], check_dtype=False,
                                          check_categorical=False, check_names=False)
            same = True
        except (AssertionError, KeyError):
            same = False
    else:
        same = np.allclose(np.asarray(a, float), np.asarray(b, float), equal_nan=True)
    if not same:
        raise AssertionError(f"the block read back {how} differs from the one written")


def _close(x, z) -> bool:
    """Equal arrays up to the rounding of a text file (or both absent)."""
    if x is None or z is None:
        return x is None and z is None
    return x.shape == z.shape and np.allclose(np.asarray(x, float), np.asarray(z, float),
                                              rtol=1e-12, atol=1e-12, equal_nan=True)


def _check_features(k: Kind, data: MultiModalData) -> None:
    from medfuse.fusion.blocks import block_preprocessor
    from medfuse.preprocess.blocks import (
        as_matrix,
        fit_transform_block,
        neural_input,
        resolve_preprocessor,
    )

    spec, block = data.modalities["m"], data.block("m")
    if "tabular" in k.capabilities and not isinstance(block, pd.DataFrame):
        raise AssertionError("a 'tabular' kind must store a DataFrame of named columns")
    if "features" in k.capabilities:
        out = as_matrix(fit_transform_block(block_preprocessor(None, "m", spec), block,
                                            obs=data.obs))
        if out.ndim != 2 or len(out) != len(block):
            raise AssertionError(f"the features have shape {out.shape} for {len(block)} "
                                 "subjects")
        if not np.isfinite(out).all():
            raise AssertionError("the features hold NaN or inf")
    if "encoder" in k.capabilities:
        tf = neural_input(spec, resolve_preprocessor(None, "m", spec))
        out = fit_transform_block(tf, block, obs=data.obs)
        if not isinstance(out, np.ndarray | pd.DataFrame) or len(out) != len(block):
            raise AssertionError(f"the neural input is a {type(out).__name__}, not one array "
                                 "of one shape per subject")


def _strategies_for(k: Kind) -> list[str]:
    from medfuse.fusion.registry import info

    out = [next((s for s in CLASSICAL if info(s).accepts(k)), None)]
    if "encoder" in k.capabilities:
        out.append("intermediate")
    return [s for s in out if s is not None]


def _make(label: str):
    from medfuse.fusion.factory import make

    return make(label, **(NEURAL_SETTINGS if label == "intermediate" else {}))
