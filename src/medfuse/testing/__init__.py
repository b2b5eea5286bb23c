"""Public conformance checks for extensions, in the spirit of scikit-learn's
``check_estimator``: run them on your own strategy, kind, representation or loss term before
you publish it. Every built-in extension passes them in medfuse's own test suite.

- :func:`check_strategy`: the estimator contract (parameters and clone, any-subset
  prediction, determinism under a seed, seeds forwarded by wrappers, saving under the
  allowlist, the benchmark in worker processes);
- :func:`check_kind`: reading, validating, storing and writing a modality kind, and the
  strategies that accept it fitted, saved and benchmarked on it;
- :func:`check_representation`: one feature row per subject, independent of the others,
  and the representation inside a strategy, saved and benchmarked;
- :func:`check_loss_term`: a term trained by name in a neural strategy, its own loss
  reported, the model loaded without the term's class, benchmarked.

Each returns the names of the checks passed and raises :class:`ConformanceError` (an
``AssertionError``) naming the extension, the check and the cause. Cohorts come from
:func:`example_cohort`, built from each kind's ``example`` block.
"""

from medfuse.testing.cohorts import example_cohort, example_ids, example_outcome
from medfuse.testing.common import ConformanceError
from medfuse.testing.kind import check_kind
from medfuse.testing.loss_term import check_loss_term
from medfuse.testing.representation import check_representation
from medfuse.testing.strategy import check_strategy

__all__ = ["ConformanceError", "check_kind", "check_loss_term", "check_representation",
           "check_strategy", "example_cohort", "example_ids", "example_outcome"]
