"""The three ways a modality block is stored, and the operations every block supports.

- ``table``: a DataFrame indexed by subject ID (rows = subjects, columns = features);
- ``array``: an ndarray with subjects first and the same shape for every subject;
- ``ragged``: a :class:`~medfuse.data.ragged.RaggedBlock`, one array of its own shape per
  subject with companions and metadata.

:class:`~medfuse.data.MultiModalData` stores every block aligned to all subjects and uses
only the functions below, so indexing, subsets and concatenation work the same for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medfuse.data.ragged import RaggedBlock

Block = pd.DataFrame | np.ndarray | RaggedBlock
STORAGES = ("table", "array", "ragged")


def storage_of(block: Block) -> str:
    """``"table"``, ``"array"`` or ``"ragged"``."""
    if isinstance(block, pd.DataFrame):
        return "table"
    if isinstance(block, RaggedBlock):
        return "ragged"
    return "array"


def take(block: Block, idx: np.ndarray) -> Block:
    """Rows at integer positions ``idx``."""
    if isinstance(block, pd.DataFrame):
        return block.iloc[idx]
    if isinstance(block, RaggedBlock):
        return block.take(idx)
    return block[idx]


def select_rows(block: Block, mask: np.ndarray) -> Block:
    """Rows where the boolean ``mask`` is True."""
    if isinstance(block, pd.DataFrame):
        return block.loc[mask]
    return take(block, np.flatnonzero(mask))


def concat(blocks: Sequence[Block]) -> Block:
    """Blocks of one storage stacked over subjects."""
    first = blocks[0]
    if isinstance(first, pd.DataFrame):
        return pd.concat(blocks)
    if isinstance(first, RaggedBlock):
        return RaggedBlock.concat(blocks)
    return np.concatenate(blocks)


def feature_names(block: Block) -> list[str] | None:
    """Column names of a table; None for array and ragged blocks."""
    return [str(c) for c in block.columns] if isinstance(block, pd.DataFrame) else None


def value_shape(block: Block) -> tuple[int, ...] | None:
    """The per-subject shape (``(p,)`` for a table); None for a ragged block."""
    if isinstance(block, RaggedBlock):
        return None
    return tuple(int(s) for s in block.shape[1:])


def describe(block: Block, present: np.ndarray) -> str | int:
    """What one subject holds, for summaries: the number of columns, ``CxHxW``, or the range
    of shapes of a ragged block over the subjects that have it."""
    if isinstance(block, pd.DataFrame):
        return block.shape[1]
    if isinstance(block, RaggedBlock):
        shapes = [s for s, p in zip(block.shapes, present, strict=True) if p and s is not None]
        if not shapes:
            return "ragged"
        lo = np.min(np.array([s for s in shapes if len(s) == len(shapes[0])]), axis=0)
        hi = np.max(np.array([s for s in shapes if len(s) == len(shapes[0])]), axis=0)
        dims = "x".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(lo, hi, strict=True))
        return f"ragged {dims}"
    return "x".join(map(str, block.shape[1:]))


def update_digest(h: Any, block: Block) -> None:
    """Feed a block's content (with its feature names) into a ``hashlib`` hash ``h``."""
    if isinstance(block, pd.DataFrame):
        h.update("\x1f".join(map(str, block.columns)).encode())
        h.update(pd.util.hash_pandas_object(block, index=True).to_numpy().tobytes())
    elif isinstance(block, RaggedBlock):
        h.update(block.digest().encode())
    else:
        h.update(np.ascontiguousarray(np.nan_to_num(block)).tobytes())


def empty_like(names: list[str] | None, shape: tuple[int, ...] | None, storage: str,
               subjects: pd.Index) -> Block:
    """A block of the given layout with no subject having a value (for a modality absent
    from the data at prediction time)."""
    if storage == "table" or names is not None:
        return pd.DataFrame(np.nan, index=subjects, columns=names or [])
    if storage == "ragged" or shape is None:
        return RaggedBlock(subjects, [None] * len(subjects))
    return np.full((len(subjects), *shape), np.nan)
