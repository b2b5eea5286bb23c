"""The benchmark cache (``<out>/cache``, read by ``resume``) is validated entry by entry: a
tampered or damaged entry is not taken as cached but recomputed, with a warning naming it."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from medfuse.data import make_cohort
from medfuse.evaluate import run_benchmark
from medfuse.fusion import make
from tests import reference_strategies as ref

IGNORED = "Ignoring the cached result"


@pytest.fixture(scope="module")
def cohort():
    return ref.tiny_cohort(40, seed=1, missing=0.3)


def run(cohort, out, **kw):
    ref.FIT_COUNTS.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_benchmark(cohort, {"late": ref.MeanLogistic(tag="late")}, folds=3,
                               repeats=1, out=out, resume=True,
                               test=ref.tiny_cohort(12, seed=5, prefix="T"), seeds=1, **kw)
    notes = [str(w.message) for w in caught if IGNORED in str(w.message)]
    return result, notes, ref.FIT_COUNTS["late"]


def cache_files(out: Path) -> list[Path]:
    return sorted((out / "cache").glob("*.json"))


def test_a_genuine_cache_is_used_whole(cohort, tmp_path):
    first, notes, fits = run(cohort, tmp_path)
    assert fits == 4 and not notes  # 3 folds + the test-set refit
    again, notes, fits = run(cohort, tmp_path)
    assert fits == 0 and not notes
    pd.testing.assert_frame_equal(first.results(), again.results())
    pd.testing.assert_frame_equal(first.robustness(), again.robustness())


def _cv_entry(files: list[Path]) -> Path:
    return next(f for f in files if json.loads(f.read_text())["kind"] == "cv")


def _set(field, value):
    def edit(entry):
        entry[field] = value
    return edit


def _first_row(value):
    def edit(entry):
        entry["proba"][entry["full_key"]][0] = [value, 1 - value]
    return edit


TAMPERED = {
    "another subject": (lambda e: e["subjects"].__setitem__(0, "X999"),
                        "its subjects are not the held-out subjects of the split"),
    "a row dropped": (lambda e: e["proba"][e["full_key"]].pop(),
                      "is not {n} rows of 2 finite numbers (or NaN rows)"),
    "an infinite probability": (_first_row(float("inf")), "finite numbers (or NaN rows)"),
    "a probability of 7": (_first_row(7.0), "holds values outside [0, 1]"),
    "labels as text": (lambda e: e.__setitem__("y", [str(v) for v in e["y"]]),
                       "y is not {n} class indices"),
    "an extra field": (_set("__class__", "os.system"),
                       "its fields are not those of a FoldResult"),
    "another strategy": (_set("strategy", "stacking"),
                         "strategy is 'stacking', expected 'late'"),
    "a subset removed": (lambda e: e["proba"].pop(next(k for k in e["proba"]
                                                       if k != e["full_key"])),
                         "its availability subsets are not those of the task"),
    "NaN fit time": (_set("fit_seconds", float("nan")),
                     "fit_seconds is not a finite, non-negative number"),
    "weights as text": (_set("weights", {"modality_weights": {"rna": "1"}}),
                        "weights are not finite numbers per modality"),
    "times for a classifier": (lambda e: e.__setitem__("time", [1.0] * len(e["y"])),
                               "time does not hold one finite, non-negative time per subject"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_entry_is_recomputed(cohort, tmp_path, case):
    first, _, _ = run(cohort, tmp_path)
    target = _cv_entry(cache_files(tmp_path))
    genuine = json.loads(target.read_text())
    entry = json.loads(target.read_text())
    edit, problem = TAMPERED[case]
    edit(entry)
    target.write_text(json.dumps(entry))
    again, notes, fits = run(cohort, tmp_path)
    assert fits == 1  # only the tampered entry is refitted
    assert len(notes) == 1 and notes[0].startswith(f"{IGNORED} {target}: ")
    assert problem.format(n=len(genuine["subjects"])) in notes[0]
    assert notes[0].endswith("; it is recomputed.")
    pd.testing.assert_frame_equal(first.results(), again.results())
    rewritten = json.loads(target.read_text())
    assert rewritten["subjects"] == genuine["subjects"] and rewritten["y"] == genuine["y"]


@pytest.mark.parametrize("content", ["not json", "[" * 100_000, json.dumps([1, 2])])
def test_unreadable_entries_are_recomputed(cohort, tmp_path, content):
    run(cohort, tmp_path)
    target = _cv_entry(cache_files(tmp_path))
    target.write_text(content)
    _, notes, fits = run(cohort, tmp_path)
    assert fits == 1 and len(notes) == 1 and str(target) in notes[0]


def test_a_link_out_of_the_cache_is_not_followed(cohort, tmp_path):
    run(cohort, tmp_path / "out")
    target = _cv_entry(cache_files(tmp_path / "out"))
    outside = tmp_path / "elsewhere.json"
    outside.write_text(target.read_text())
    target.unlink()
    target.symlink_to(outside)
    before = outside.read_text()
    with pytest.raises(ValueError, match=re.escape(f"{target} is a link; the benchmark "
                                                   "cache holds only its own files")):
        run(cohort, tmp_path / "out")
    assert outside.read_text() == before  # never read as a result, never written


def test_survival_entries(tmp_path):
    data = make_cohort(40, task="survival", n_genes=8, n_imaging=5, random_state=0)

    def survival_run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_benchmark(data, {"cox": make("unimodal-cox:rna")}, folds=3,
                                   repeats=1, out=tmp_path, resume=True, task="survival",
                                   robustness=False)
        return result, [str(w.message) for w in caught if IGNORED in str(w.message)]

    first, notes = survival_run()
    assert not notes
    again, notes = survival_run()
    assert not notes
    target = cache_files(tmp_path)[0]
    entry = json.loads(target.read_text())
    entry["time"][0] = -1.0
    target.write_text(json.dumps(entry))
    again, notes = survival_run()
    assert notes == [f"{IGNORED} {target}: time does not hold one finite, non-negative time "
                     "per subject; it is recomputed."]
    pd.testing.assert_frame_equal(first.results(), again.results())
