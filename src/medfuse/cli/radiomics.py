"""``medfuse radiomics``: IBSI-1 features of one image and its mask, as a CSV row."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import console, fail, shown


def radiomics(
    image: Annotated[Path, typer.Argument(help="The image: NIfTI (.nii, .nii.gz), a DICOM "
                                               "file or a folder holding one DICOM series.")],
    mask: Annotated[Path, typer.Argument(help="The region of interest: NIfTI on the image's "
                                              "grid, DICOM SEG or RTSTRUCT.")],
    out: Annotated[Path, typer.Option(help="CSV file to write (one row, IBSI tags as "
                                           "columns).")] = Path("features.csv"),
    preset: Annotated[str | None, typer.Option(
        help="ibsi1-a ... ibsi1-e (the IBSI-1 CT phantom configurations) or ibsi1-phantom "
             "(grey levels as they are).")] = None,
    config: Annotated[Path | None, typer.Option(
        help="YAML settings (keys of RadiomicsSettings; 'preset' starts from one).")] = None,
    label: Annotated[str | None, typer.Option(
        help="The mask label (number) or segment/ROI name when the mask has several.")] = None,
    families: Annotated[str | None, typer.Option(
        help="Comma-separated families (morph, loc, stat, ih, ivh, cm, rlm, szm, dzm, ngt, "
             "ngl); all by default.")] = None,
) -> None:
    """Compute IBSI-1 radiomics features of IMAGE inside MASK and write them to a CSV file."""
    import numpy as np
    import pandas as pd
    import yaml

    from medfuse import limits
    from medfuse.data import DataValidationError
    from medfuse.files import csv_text, read_bytes, write_file
    from medfuse.imaging.io import read_mask, read_scan
    from medfuse.imaging.radiomics.features import extract
    from medfuse.imaging.radiomics.settings import RadiomicsSettings
    from medfuse.imaging.radiomics.settings import preset as by_name

    if preset is not None and config is not None:
        fail("give --preset or --config, not both (a config file may name a preset).")
    try:
        if config is not None:
            values = yaml.safe_load(read_bytes(config, limits.STUDY_BYTES).decode()) or {}
            if not isinstance(values, dict):
                raise ValueError(f"{config}: the settings must be a mapping of names to "
                                 "values.")
            settings = RadiomicsSettings.from_mapping(values)
        else:
            settings = by_name(preset) if preset is not None else RadiomicsSettings()
        scan = read_scan(image)
        chosen = None if label is None else (int(label) if label.isdigit() else label)
        roi = read_mask(mask, scan, label=chosen)
        wanted = None if families is None else [f.strip() for f in families.split(",")
                                                if f.strip()]
        values = extract(np.asarray(scan.array, float), roi, scan.spacing, settings, wanted,
                         where=str(image))
    except (DataValidationError, FileNotFoundError, ValueError, OSError) as err:
        fail(err)
    table = pd.DataFrame([values], index=pd.Index([str(image)], name="image"))
    write_file(out, csv_text(table, raw=True))
    console.print(f"{len(values)} features of {shown(image)} written to {shown(out)}")
