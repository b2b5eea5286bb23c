"""The multimodal data model: aligned modality blocks, availability, obs; readers and cohorts."""

from medfuse.data.datasets import load_gse7390
from medfuse.data.io import (
    from_mudata,
    load_mogonet,
    read_data,
    read_folder,
    read_table,
    to_mudata,
    write_folder,
)
from medfuse.data.modality import MeasurementScale, Modality, ModalityKind, infer_scales
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.data.simulate import make_cohort

__all__ = [
    "DataValidationError",
    "MeasurementScale",
    "Modality",
    "ModalityKind",
    "MultiModalData",
    "from_mudata",
    "infer_scales",
    "load_gse7390",
    "load_mogonet",
    "make_cohort",
    "read_data",
    "read_folder",
    "read_table",
    "to_mudata",
    "write_folder",
]
