"""Fixtures of the preprocessing tests."""

import pytest
from rfixtures import read_r


@pytest.fixture(scope="session")
def combat_data():
    """The ComBat input (subjects x features) and its metadata (batch, group, age)."""
    return read_r("combat_input.csv"), read_r("combat_meta.csv")
