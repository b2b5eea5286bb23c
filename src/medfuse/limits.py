"""The caps medfuse checks before it allocates memory for something a file declares.

A file may declare more than it holds: an archive member that decompresses to gigabytes, an
array header with a huge shape, a JSON document of hundreds of megabytes, a table with a
million columns, a study file whose YAML aliases expand to millions of nodes, a saved
network whose settings ask for a billion layers. Each is compared with its cap before
anything is read into memory, and refused with one message that names the file (and the
member or key) and the environment variable that raises the cap.

=============================  ========================================  ==============
environment variable           what it caps                              default
=============================  ========================================  ==============
``MEDFUSE_MAX_ARRAY_MB``       one array, or one archive member          512 MiB
``MEDFUSE_MAX_ARCHIVE_MB``     the declared contents of one archive      2048 MiB
``MEDFUSE_MAX_JSON_MB``        one JSON document (manifests, schemas)    64 MiB
``MEDFUSE_MAX_COLUMNS``        the columns of one table (header row)     250,000
``MEDFUSE_MAX_STUDY_KB``       a study file                              1,024 KiB
``MEDFUSE_MAX_STUDY_NODES``    a study file's nodes, aliases expanded    100,000
``MEDFUSE_MAX_NETWORK_WIDTH``  one width of a saved network              1,048,576
``MEDFUSE_MAX_ENSEMBLE``       the networks of a saved seed ensemble     100
=============================  ========================================  ==============
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MiB = 2**20


@dataclass(frozen=True)
class Cap:
    """One cap.

    Parameters
    ----------
    variable : str
        The environment variable that sets it.
    default : int
        Its value when the variable is not set (in ``unit``).
    scale : int
        Bytes (or items) per ``unit``.
    unit : str
        The unit shown in messages.
    what : str
        What it caps, as messages say.
    """

    variable: str
    default: int
    scale: int = 1
    unit: str = ""
    what: str = ""

    @property
    def value(self) -> int:
        """The cap now (in bytes for sizes): the environment variable's value when it is a
        positive whole number, else the default."""
        raw = os.environ.get(self.variable, "").strip()
        number = int(raw) if raw.isdigit() and int(raw) > 0 else self.default
        return number * self.scale

    def check(self, amount: int, subject: str) -> None:
        """Refuse ``amount`` (bytes, columns, nodes ...) above the cap.

        Parameters
        ----------
        amount : int
            What ``subject`` declares.
        subject : str
            What declares it (a file, with the member or key), as the message names it.

        Raises
        ------
        SizeLimitError
            Naming ``subject``, the amount, the cap and the variable that raises it.
        """
        if amount > self.value:
            shown = (f"{amount / self.scale:,.1f} {self.unit}" if self.scale > 1
                     else f"{amount:,} {self.unit}".rstrip())
            limit = f"{self.value // self.scale:,} {self.unit}".rstrip()
            raise SizeLimitError(f"{subject} declares {shown}, more than the {limit} "
                                 f"medfuse reads for {self.what} (set {self.variable} to "
                                 "raise the cap if the file is yours and this is expected).")


class SizeLimitError(ValueError):
    """Something declares more than its cap; the message names it and the cap."""


ARRAY = Cap("MEDFUSE_MAX_ARRAY_MB", 512, MiB, "MiB", "one array or archive member")
ARCHIVE = Cap("MEDFUSE_MAX_ARCHIVE_MB", 2048, MiB, "MiB", "the contents of one archive")
JSON = Cap("MEDFUSE_MAX_JSON_MB", 64, MiB, "MiB", "one JSON document")
COLUMNS = Cap("MEDFUSE_MAX_COLUMNS", 250_000, 1, "columns", "one table")
STUDY_BYTES = Cap("MEDFUSE_MAX_STUDY_KB", 1024, 1024, "KiB", "a study file")
STUDY_NODES = Cap("MEDFUSE_MAX_STUDY_NODES", 100_000, 1, "nodes",
                  "a study file (YAML aliases expanded)")
NETWORK_WIDTH = Cap("MEDFUSE_MAX_NETWORK_WIDTH", 2**20, 1, "", "one width of a network")
ENSEMBLE = Cap("MEDFUSE_MAX_ENSEMBLE", 100, 1, "networks", "a seed ensemble")
