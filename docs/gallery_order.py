"""The order of the example gallery: first a benchmark, then missing data, interpretation,
harmonisation, extension, raw modalities, survival and neural training."""

from __future__ import annotations

from pathlib import Path

ORDER = ("plot_quickstart_rosmap.py", "plot_missing_modalities.py",
         "plot_modality_shapley.py", "plot_combat_harmonisation.py", "plot_custom_kind.py",
         "plot_ragged_images_and_streams.py", "plot_survival.py", "plot_neural_pretraining.py")


class ExampleOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``: the position in
    :data:`ORDER`, unlisted examples last by name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = Path(filename).name
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    def __repr__(self) -> str:
        return "ExampleOrder()"
