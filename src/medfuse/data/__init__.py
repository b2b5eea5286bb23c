"""The multimodal data model: aligned modality blocks, availability, obs; modality kinds,
readers and cohorts."""

from medfuse.data.datasets import load_gse7390
from medfuse.data.io import load_mogonet, read_data, read_folder, write_folder
from medfuse.data.kinds import Kind, ModalityKind, get_kind, kind_names, register_kind
from medfuse.data.modality import MeasurementScale, Modality, infer_scales
from medfuse.data.mudata import from_mudata, to_mudata
from medfuse.data.multimodal import MultiModalData
from medfuse.data.ragged import RaggedBlock
from medfuse.data.simulate import make_cohort
from medfuse.data.tables import read_table, write_table
from medfuse.data.validation import DataValidationError

__all__ = [
    "DataValidationError",
    "Kind",
    "MeasurementScale",
    "Modality",
    "ModalityKind",
    "MultiModalData",
    "RaggedBlock",
    "from_mudata",
    "get_kind",
    "infer_scales",
    "kind_names",
    "load_gse7390",
    "load_mogonet",
    "make_cohort",
    "read_data",
    "read_folder",
    "read_table",
    "register_kind",
    "to_mudata",
    "write_folder",
    "write_table",
]
