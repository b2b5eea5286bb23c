"""The IBSI-1 digital phantom and its reference values, for the radiomics tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PHANTOM = Path(__file__).resolve().parents[3] / "shared" / "data" / "ibsi_digital_phantom"


def phantom_arrays() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Image and mask as (z, y, x) arrays and the spacing, mm, read with nibabel."""
    nib = pytest.importorskip("nibabel")
    if not PHANTOM.exists():
        pytest.skip("the IBSI digital phantom is not next to the project")
    image = nib.load(PHANTOM / "nifti" / "image" / "phantom.nii.gz")
    mask = nib.load(PHANTOM / "nifti" / "mask" / "mask.nii.gz")
    zyx = (2, 1, 0)
    spacing = tuple(float(s) for s in np.asarray(image.header.get_zooms())[list(zyx)])
    return (np.transpose(np.asarray(image.dataobj), zyx),
            np.transpose(np.asarray(mask.dataobj), zyx), spacing)


def reference_values(prefix: str = "") -> pd.DataFrame:
    """Reference value and tolerance per IBSI tag (index), those starting with ``prefix``.

    A tolerance of 0 means the value as published, to three significant figures: within
    half a unit of the third (``2.15`` -> 0.005, ``1490`` -> 5), which ``tolerance`` then
    holds. Tags without a consensus value (empty cells) have NaN.
    """
    if not PHANTOM.exists():
        pytest.skip("the IBSI digital phantom is not next to the project")
    table = pd.read_csv(PHANTOM / "reference_values.csv", sep=";")
    table.columns = ["value", "tolerance", "tag"]
    table = table.set_index("tag")
    table = table[table.index.str.startswith(prefix)]
    value = table["value"].astype(float)
    magnitude = np.floor(np.log10(np.abs(value.where(value != 0, 1.0))))
    published = 0.5 * 10.0 ** (magnitude - 2)
    published = published.where(value != 0, 1e-9)
    tolerance = table["tolerance"].astype(float)
    return pd.DataFrame({"value": value,
                         "tolerance": tolerance.where(tolerance > 0, published)})


def mismatches(computed: dict[str, float], prefix: str) -> list[str]:
    """Tags with ``prefix`` whose computed value is missing or outside the tolerance (tags
    without a consensus value only need to be computed)."""
    wrong = []
    for tag, row in reference_values(prefix).iterrows():
        value = computed.get(tag)
        if value is None:
            wrong.append(f"{tag}: missing")
        elif np.isfinite(row["value"]) and not abs(value - row["value"]) <= row["tolerance"]:
            wrong.append(f"{tag}: {value} vs {row['value']} +- {row['tolerance']}")
    return wrong
