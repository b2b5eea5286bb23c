"""All missingness diagnostics of a cohort in one call, for ``medfuse info`` and the
report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medfuse.data import MultiModalData
from medfuse.evaluate.missingness.availability import availability_mcar_test, block_mcar_test
from medfuse.evaluate.missingness.little import MCARTest
from medfuse.evaluate.missingness.patterns import outcome_by_pattern
from medfuse.evaluate.missingness.probe import mar_probe


@dataclass
class MissingnessDiagnostics:
    """What is missing and how: Little's test on modality availability and on each table's
    missing cells, the MAR probe per modality, the outcome per availability pattern.

    Parameters
    ----------
    availability_test : MCARTest or None
        Little's test on modality availability
        (:func:`~medfuse.evaluate.missingness.availability_mcar_test`); None when every
        subject has every tabular modality or the test could not run.
    block_tests : dict of str to MCARTest
        Little's test on each table's missing cells, by modality (tables without missing
        cells are left out).
    probe : DataFrame
        The MAR probe, one row per modality some subjects lack
        (:func:`~medfuse.evaluate.missingness.mar_probe`); empty when nothing is missing.
    outcome_table : DataFrame or None
        Subjects and outcome per availability pattern
        (:func:`~medfuse.evaluate.missingness.outcome_by_pattern`); None without an outcome
        or missing modalities.
    outcome_p_value : float
        P-value of the test that the outcome does not depend on the availability pattern
        (chi-squared, or Kruskal-Wallis for a numeric outcome); NaN when not computed.
    notes : list of str
        The diagnostics that could not run, and why.
    """

    availability_test: MCARTest | None
    block_tests: dict[str, MCARTest] = field(default_factory=dict)
    probe: pd.DataFrame = field(default_factory=pd.DataFrame)
    outcome_table: pd.DataFrame | None = None
    outcome_p_value: float = np.nan
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The diagnostics as plain-language lines."""
        out = []
        if self.availability_test is not None:
            out.append(f"modality availability: {self.availability_test.reading()}")
        for name, test in self.block_tests.items():
            out.append(f"missing cells in {name}: {test.reading()}")
        for name, row in self.probe.iterrows():
            auc = "n/a" if np.isnan(row["auc"]) else f"{row['auc']:.2f} ± {row['auc_sd']:.2f}"
            predictors = f"; strongest predictors {row['top_predictors']}" \
                if row["top_predictors"] else ""
            out.append(f"{name} missing for {row['missing']} subjects; availability "
                       f"AUC {auc}: {row['reading']}{predictors}")
        if self.outcome_table is not None and len(self.outcome_table) > 1:
            verdict = ("differs between availability patterns" if self.outcome_p_value < 0.05
                       else "does not differ detectably between availability patterns")
            out.append(f"outcome {verdict} (p = {self.outcome_p_value:.3g})")
        return out + self.notes


def diagnose_missingness(data: MultiModalData, folds: int = 5,
                         random_state: int | None = 0) -> MissingnessDiagnostics:
    """Run every missingness diagnostic that applies to ``data`` (none when nothing is
    missing). Tests that cannot run (too few subjects, a table too small) become notes.

    Parameters
    ----------
    data : MultiModalData
        The cohort.
    folds : int
        Stratified folds of the MAR probe.
    random_state : int, optional
        Seed of the MAR probe's fold assignment.

    Returns
    -------
    MissingnessDiagnostics
        The results of the diagnostics that ran, and notes on those that could not.
    """
    notes = []

    def attempt(what, run):
        try:
            return run()
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as err:
            notes.append(f"{what}: not computed ({err})")
            return None

    result = MissingnessDiagnostics(
        availability_test=attempt("Little's test on availability",
                                  lambda: availability_mcar_test(data)), notes=notes)
    for name in data.modality_names:
        test = attempt(f"Little's test on {name}'s cells", lambda n=name: block_mcar_test(data, n))
        if test is not None:
            result.block_tests[name] = test
    if not data.available.all().all():
        probe = attempt("MAR probe", lambda: mar_probe(data, folds=folds,
                                                        random_state=random_state))
        result.probe = probe if probe is not None else pd.DataFrame()
        if data.outcome is not None:
            found = attempt("outcome by pattern", lambda: outcome_by_pattern(data))
            if found is not None:
                result.outcome_table, result.outcome_p_value = found
    return result
