"""Loader for the R reference fixtures written by tests/fixtures/r/make_fixtures.R."""

from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "r"


def read_r(name: str) -> pd.DataFrame:
    """A fixture CSV (first column = R row names)."""
    return pd.read_csv(FIXTURES / name, index_col=0)
