"""Cross-modal learning for incomplete cohorts: strategies and loss terms that learn from
subjects with several modalities (with or without an outcome) to serve subjects that have
fewer. Each module registers its strategies (lazily, by import path, so listing strategies
imports no torch) and its loss terms.
"""

from __future__ import annotations

from medfuse.fusion.crossmodal import cotraining  # noqa: F401  (registers co-training)
