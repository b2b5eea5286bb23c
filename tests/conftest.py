"""Shared fixtures: seeded small cohorts and the path to the benchmark data, if present."""

from __future__ import annotations

import os

# One thread per BLAS/OpenMP pool, set before numpy, scipy or scikit-learn load theirs: the
# suite runs one worker per core, and a pool loaded after threadpool_limits() below would
# not be limited (oversubscribed workers ran some tests 10x slower).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# The test suite is itself a plugin package: its modules define strategies, kinds and parts
# that saved models hold, and ``trust`` takes classes of plugin packages only (the tests of
# that rule set the variable themselves). Importing this module registers nothing.
os.environ.setdefault("MEDFUSE_PLUGINS", "tests.reference_strategies")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

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


@pytest.fixture(scope="session")
def airquality_path() -> Path:
    path = SHARED_DATA / "airquality" / "airquality.csv"
    if not path.exists():
        pytest.skip("benchmark data file ../shared/data/airquality/airquality.csv is not present")
    return path
