"""Conformal coverage per availability pattern over many random splits, and calibration
before and after recalibration.

For each of ``--splits`` random splits of a cohort, some subjects are held out as test
subjects and others go to :class:`medfuse.fusion.conformal.ConformalClassifier` (Mondrian
by availability pattern, split conformal), which holds out half of them to calibrate and
fits the strategy on the rest. Per availability pattern the script prints:

- ``coverage``: share of the pattern's test subjects, pooled over all splits, whose
  prediction set at ``--alpha`` holds their class;
- the interval it must lie in, ``[1 - alpha - 0.02, 1 - alpha + mean(1 / (n + 1)) + 0.02]``
  with ``n`` the pattern's calibration scores in each split (split conformal guarantees
  ``1 - alpha <= E[coverage] <= 1 - alpha + 1 / (n + 1)`` for exchangeable subjects), and
  PASS/FAIL; patterns whose category has fewer than ``--min-calibration`` scores in some
  split are listed but not judged;
- the mean set size, and ECE (10 bins, positive-class probability) of the test subjects
  pooled over all splits, before recalibration and after each map of ``--calibration``
  (the first is judged on the simulator: at most 0.03 for every pattern). The sets do not
  depend on the map (their scores are the strategy's own probabilities), so the strategy is
  fitted once per split and the maps are swapped with ``recalibrate``.

Cohorts:

- ``sim``: a simulated population of 200,000 subjects (:func:`medfuse.data.make_cohort`;
  rna and imaging each missing for 30% of subjects completely at random: four patterns).
  Every split draws 2,000 subjects for the wrapper and 3,000 other test subjects, so the
  pooled test subjects are mostly distinct and ECE per pattern is not dominated by the
  noise of a few hundred subjects. With ``--augment`` (default) calibration subjects are
  also scored with modalities hidden (``pattern_augment``; valid because the simulated
  missingness is completely at random), which gives the rarer patterns enough calibration
  subjects for a recalibration map of their own.
- ``rosmap``: the ROSMAP cohort (MOGONET layout, train and test files pooled: 351
  subjects), with modalities hidden completely at random in every split (mRNA hidden for
  25% of subjects, methylation for another 25%); a quarter of the subjects tests. The
  calibration subjects are scored with modalities hidden too, so that each pattern's
  category has at least 50 scores. Its ECE figures are those of a few hundred distinct
  subjects, and so mostly noise.

    python benchmarks/conformal.py [--cohort sim,rosmap] [--splits 200] [--alpha 0.1]
        [--strategy late-mean] [--calibration venn-abers,platt,isotonic,temperature]
        [--no-augment] [--jobs 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from rosmap import default_data_dir
from threadpoolctl import threadpool_limits

from medfuse.data import load_mogonet, make_cohort
from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.metrics import expected_calibration_error
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalClassifier, availability_patterns

SLACK = 0.02
#: the simulated population; every split draws its subjects from it
SIM_SUBJECTS = 200_000
#: simulator: subjects given to the wrapper (half fit, half calibrate) and test subjects
SIM_MODEL, SIM_TEST = 2000, 3000
#: ROSMAP: share of the subjects that tests in each split
ROSMAP_TEST = 0.25


def cohort_data(name: str, path: str) -> MultiModalData:
    """The cohort, built once per worker process (kept in ``sys.modules``, where a worker
    that unpickles this function again still finds it)."""
    cache = sys.modules.setdefault("_conformal_benchmark_cohorts", types.ModuleType("c"))
    if not hasattr(cache, name):
        setattr(cache, name, make_cohort(SIM_SUBJECTS, n_genes=50, n_imaging=20,
                                         missing={"rna": 0.3, "imaging": 0.3},
                                         random_state=0) if name == "sim"
                else MultiModalData.concat(load_mogonet(path)))
    return getattr(cache, name)


def hide_at_random(data: MultiModalData, rng: np.random.Generator) -> MultiModalData:
    """mRNA hidden for 25% of subjects, methylation for another 25% (disjoint)."""
    first, second = data.modality_names[:2]
    draw = rng.random(len(data))
    subjects = np.asarray(data.subjects)
    return data.hide([first], subjects=subjects[draw < 0.25]).hide(
        [second], subjects=subjects[(draw >= 0.25) & (draw < 0.5)])


def one_split(cohort: str, path: str, seed: int, args) -> dict:
    rng = np.random.default_rng(seed)
    data = cohort_data(cohort, path)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cohort == "sim":
            order = rng.choice(len(data), SIM_MODEL + SIM_TEST, replace=False)
            train, test = np.sort(order[:SIM_MODEL]), np.sort(order[SIM_MODEL:])
            augment = args.augment
        else:
            data = hide_at_random(data, rng)
            order = rng.permutation(len(data))
            n_test = round(ROSMAP_TEST * len(data))
            test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
            augment = True
        methods = args.calibration.split(",")
        model = ConformalClassifier(
            make(args.strategy), alpha=args.alpha, mondrian="pattern",
            calibration_fraction=0.5, calibration=methods[0], pattern_augment=augment,
            random_state=seed).fit(data[train])
        held = data[test]
        sets = model.predict_set(held)
        proba = {"before": model.predict_proba_uncalibrated(held)}
        for method in methods:
            proba[method] = model.recalibrate(method).predict_proba(held)
    counts = model.calibration_counts().drop("marginal")
    return {"patterns": availability_patterns(held, model.modalities_),
            "y": np.searchsorted(model.classes_, held.y.to_numpy()), "sets": sets,
            "proba": proba, "counts": counts.to_dict()}


def summarise(name: str, runs: list[dict], alpha: float, min_calibration: int,
              seconds: float) -> pd.DataFrame:
    patterns = np.concatenate([r["patterns"] for r in runs])
    y = np.concatenate([r["y"] for r in runs])
    sets = np.vstack([r["sets"] for r in runs])
    proba = {m: np.vstack([r["proba"][m] for r in runs]) for m in runs[0]["proba"]}
    hit = sets[np.arange(len(y)), y]
    rows = []
    for pattern in pd.Series(patterns).value_counts().index:
        sel = patterns == pattern
        n_cal = np.array([r["counts"].get(pattern, 0) for r in runs], dtype=float)
        low = 1 - alpha - SLACK
        high = 1 - alpha + float(np.mean(1.0 / (n_cal + 1.0))) + SLACK
        cover = float(hit[sel].mean())
        judged = n_cal.min() >= min_calibration
        rows.append({
            "pattern": pattern, "n_cal_min": int(n_cal.min()), "n_cal_mean": n_cal.mean(),
            "n_test": int(sel.sum()), "coverage": cover, "low": low, "high": high,
            "verdict": ("PASS" if low <= cover <= high else "FAIL") if judged
            else "not judged",
            "set_size": float(sets[sel].sum(axis=1).mean()),
            **{f"ece_{m}": expected_calibration_error(y[sel], p[sel])
               for m, p in proba.items()}})
    rows.append({"pattern": "all", "n_cal_min": np.nan, "n_cal_mean": np.nan,
                 "n_test": len(y), "coverage": float(hit.mean()), "low": np.nan,
                 "high": np.nan, "verdict": "",
                 "set_size": float(sets.sum(axis=1).mean()),
                 **{f"ece_{m}": expected_calibration_error(y, p) for m, p in proba.items()}})
    table = pd.DataFrame(rows)
    print(f"\n== {name}: {len(runs)} random splits, alpha = {alpha:g}, "
          f"{seconds:.0f} s wall ==")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohort", default="sim,rosmap")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--strategy", default="late-mean")
    parser.add_argument("--calibration", default="venn-abers,platt,isotonic,temperature",
                        help="recalibration maps, comma-separated; the first is judged")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="simulator: pattern_augment (ROSMAP always augments)")
    parser.add_argument("--min-calibration", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    args = parser.parse_args()
    print(f"strategy {args.strategy}, Mondrian by availability pattern, split conformal "
          "(half of the wrapper's subjects calibrate), recalibration maps "
          f"{args.calibration} (ECE judged: the first), simulator pattern_augment "
          f"{args.augment}")
    verdicts = []
    for cohort in args.cohort.split(","):
        if cohort not in ("sim", "rosmap"):
            raise SystemExit(f"unknown cohort {cohort!r}: use sim or rosmap")
        t0 = time.perf_counter()
        runs = Parallel(n_jobs=args.jobs)(
            delayed(one_split)(cohort, str(args.data), seed, args)
            for seed in range(args.splits))
        table = summarise(cohort, runs, args.alpha, args.min_calibration,
                          time.perf_counter() - t0)
        verdicts += [v for v in table["verdict"] if v in ("PASS", "FAIL")]
        if cohort == "sim":
            first = args.calibration.split(",")[0]
            worst = table.loc[table["pattern"] != "all", f"ece_{first}"].max()
            print(f"largest ECE per pattern after {first} recalibration: {worst:.4f} "
                  f"({'PASS' if worst <= 0.03 else 'FAIL'}: target <= 0.03)")
    print(f"\ncoverage: {verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL")


if __name__ == "__main__":
    main()
