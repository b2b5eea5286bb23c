"""Lazy heavy imports: the data model, preprocessing, the classical strategies, the report
and the prediction core work without importing torch."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import medfuse, medfuse.data, medfuse.preprocess, medfuse.fusion, medfuse.represent
import medfuse.evaluate, medfuse.report, medfuse.predictor, medfuse.study
from medfuse.data import make_cohort
from medfuse.fusion import available, make
data = make_cohort(60, n_genes=20, n_imaging=8, random_state=0)
make("late-mean", random_state=0).fit(data).predict_proba(data)
assert len(available()) >= 15
assert "torch" not in sys.modules, "torch was imported"
import medfuse.cli
assert "torch" not in sys.modules
"""


def test_torch_is_not_imported_by_the_classical_path():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_command_line_imports_little_before_a_command_runs():
    code = ("import sys, medfuse.cli; heavy = {'torch', 'sklearn', 'scipy', 'pandas', "
            "'numpy'} & set(sys.modules); print(sorted(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
