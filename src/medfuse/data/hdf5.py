"""HDF5 files (``.h5mu``) checked before they are read: nothing in a data file may name
another file, and no dataset may declare more than its cap.

HDF5 lets a dataset keep its bytes in other files (external storage), be assembled from
other files' datasets (virtual datasets), or a group link to an object in another file
(external links): reading such a file reads files the user never named. Each is refused,
naming the object; so is a dataset declared larger than ``MEDFUSE_MAX_ARRAY_MB``.
"""

from __future__ import annotations

from pathlib import Path

from medfuse import limits
from medfuse.data.validation import DataValidationError


def check_h5(path: str | Path) -> None:
    """Refuse an HDF5 file that reads other files or declares oversized datasets.

    Parameters
    ----------
    path : str or Path
        The file (a regular file; see :func:`medfuse.files.open_regular`).

    Raises
    ------
    DataValidationError
        Naming the file and the object (external storage, a virtual dataset, an external
        link, or an unreadable file).
    SizeLimitError
        Naming the dataset declared larger than its cap.
    """
    import h5py
    import numpy as np

    from medfuse.files import open_regular

    with open_regular(path) as handle:
        try:
            store = h5py.File(handle, "r")
        except (OSError, ValueError) as err:
            raise DataValidationError(f"{path} is not a readable HDF5 file ({err}).") from None
        with store:
            problems: list[str] = []

            def visit(name: str, obj) -> None:
                if isinstance(obj, h5py.Dataset):
                    if obj.external:
                        problems.append(f"dataset {name!r} keeps its data in other files")
                    elif obj.is_virtual:
                        problems.append(f"dataset {name!r} is a virtual dataset (made of "
                                        "other files' data)")
                    else:
                        size = int(np.prod(obj.shape or (), dtype=np.float64)) \
                            * obj.dtype.itemsize
                        limits.ARRAY.check(size, f"{path}, dataset {name!r},")
                if isinstance(obj, h5py.Group):
                    for key in obj:
                        link = obj.get(key, getlink=True)
                        if isinstance(link, h5py.ExternalLink):
                            problems.append(f"{name}/{key!r} is a link into the file "
                                            f"{link.filename!r}")

            visit("/", store)
            store.visititems(visit)
    if problems:
        raise DataValidationError(f"{path} is refused: " + "; ".join(problems[:5])
                                  + ". A data file may not name other files.")
