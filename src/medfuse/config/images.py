"""An image modality of a study file read scan by scan: ``images:`` and ``masks:`` path
patterns with ``{subject}`` (see :class:`~medfuse.config.refs.ModalitySpec`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.config.errors import StudyError
from medfuse.config.refs import ModalitySpec
from medfuse.data.ragged import RaggedBlock
from medfuse.data.validation import DataValidationError


def read_scans(spec: ModalitySpec, subjects: Sequence[str], resolve: Callable[[str], Path],
               field: str) -> RaggedBlock:
    """Each subject's scan (and mask) as a ragged ``1 x Z x Y x X`` image block.

    Parameters
    ----------
    spec : ModalitySpec
        With ``images`` (and optionally ``masks``, ``mask_label``).
    subjects : sequence of str
        The cohort's subject IDs (those of its outcome file).
    resolve : callable
        A path of the study file -> the file.
    field : str
        Names the modality in messages (``modalities.ct``).

    Returns
    -------
    RaggedBlock
        The subjects whose scan exists, with a ``mask`` field when ``masks`` is given and
        metadata ``spacing`` (mm, z y x), ``origin`` (mm, LPS x y z), ``direction``
        (row-major 3 x 3, LPS), ``units`` and ``source`` (the scan's path).

    Raises
    ------
    StudyError
        When a scan or mask cannot be read, naming the subject and the file; a subject whose
        scan is missing is left out of this modality with a warning naming it.
    """
    try:
        from medfuse.imaging.io import read_mask, read_scan
    except ImportError as err:
        raise StudyError(f"{field}.images: reading scans needs the imaging extra "
                         f"(pip install 'medfuse[imaging]'): {err}") from None
    ids, values, masks, meta, absent = [], [], [], [], []
    for subject in subjects:
        path = resolve(spec.images.replace("{subject}", str(subject)))
        if not path.exists():
            absent.append(f"{subject!r} ({path})")
            continue
        try:
            scan = read_scan(path, subject=str(subject))
            if spec.masks is not None:
                mask_path = resolve(spec.masks.replace("{subject}", str(subject)))
                masks.append(read_mask(mask_path, scan, subject=str(subject),
                                       label=spec.mask_label).astype(np.uint8))
        except (DataValidationError, FileNotFoundError, ValueError, OSError) as err:
            raise StudyError(f"{field}: {err}") from None
        ids.append(str(subject))
        values.append(np.asarray(scan.array, dtype=np.float32)[None])
        meta.append({"spacing": tuple(map(float, scan.spacing)),
                     "origin": tuple(map(float, scan.origin)),
                     "direction": tuple(np.asarray(scan.direction, float).ravel().tolist()),
                     "units": scan.units, "source": str(path)})
    if absent:
        warnings.warn(f"{field}.images: {len(absent)} subject(s) have no scan and no value in "
                      f"this modality: {', '.join(absent[:5])}"
                      + (" ..." if len(absent) > 5 else ""), stacklevel=3)
    if not ids:
        raise StudyError(f"{field}.images: no subject has a scan at {spec.images!r} "
                         f"(tried {len(subjects)} subject(s); the first: "
                         f"{resolve(spec.images.replace('{subject}', str(subjects[0])))})"
                         if subjects else f"{field}.images: the cohort has no subjects")
    fields = {"mask": masks} if spec.masks is not None else None
    return RaggedBlock(ids, values, fields, meta=pd.DataFrame(meta, index=ids))
