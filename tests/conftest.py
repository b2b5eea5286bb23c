"""Shared fixtures: seeded small cohorts and the path to the benchmark data, if present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

# The suite runs with one worker per core: keep BLAS and torch to one thread per worker so
# that workers do not oversubscribe the cores.
torch.set_num_threads(1)
threadpool_limits(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def rosmap_path() -> Path:
    path = SHARED_DATA / "rosmap"
    if not (path / "labels_tr.csv").exists():
        pytest.skip("benchmark data folder ../shared/data/rosmap is not present")
    return path
