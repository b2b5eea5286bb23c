"""Leakage-free evaluation: shared CV splits, metrics, strategy comparison, missing-modality
robustness and the benchmark that ties them together."""

from medfuse.evaluate.compare import compare_strategies, corrected_resampled_ttest
from medfuse.evaluate.metrics import c_index, classification_metrics, expected_calibration_error
from medfuse.evaluate.records import BenchmarkResult, FoldResult
from medfuse.evaluate.robustness import modality_subsets
from medfuse.evaluate.runner import run_benchmark
from medfuse.evaluate.splits import Split, make_splits

__all__ = ["BenchmarkResult", "FoldResult", "Split", "c_index", "classification_metrics",
           "compare_strategies", "corrected_resampled_ttest", "expected_calibration_error",
           "make_splits", "modality_subsets", "run_benchmark"]
