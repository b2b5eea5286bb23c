"""Missingness diagnostics: Little's MCAR test (EM estimates), the MAR probe, the outcome
per availability pattern and the MNAR delta sensitivity analysis."""

from medfuse.evaluate.missingness.availability import availability_mcar_test, block_mcar_test
from medfuse.evaluate.missingness.diagnose import MissingnessDiagnostics, diagnose_missingness
from medfuse.evaluate.missingness.em import EMEstimate, em_mean_covariance
from medfuse.evaluate.missingness.little import MCARTest, little_mcar_test
from medfuse.evaluate.missingness.patterns import outcome_by_pattern, pattern_labels
from medfuse.evaluate.missingness.probe import mar_probe
from medfuse.evaluate.missingness.sensitivity import DeltaSensitivity, mnar_sensitivity

__all__ = ["DeltaSensitivity", "EMEstimate", "MCARTest", "MissingnessDiagnostics",
           "availability_mcar_test", "block_mcar_test", "diagnose_missingness",
           "em_mean_covariance", "little_mcar_test", "mar_probe", "mnar_sensitivity",
           "outcome_by_pattern", "pattern_labels"]
