"""Cohorts: real ones shipped with the dependencies and the seeded simulator."""

from medfuse.data.datasets import load_gse7390
from medfuse.data.io import load_mogonet
from medfuse.data.simulate import make_cohort

__all__ = ["load_gse7390", "load_mogonet", "make_cohort"]
