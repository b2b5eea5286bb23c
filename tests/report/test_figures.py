"""The report's figures draw what their data say (inspected through the matplotlib artists)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from medfuse.report.figures import weight_ranges, weights_plot


@pytest.fixture
def weights() -> pd.DataFrame:
    """Two strategies x 5 CV fits x 2 modalities; every fit's weights are in [0, 1] and sum to
    1, so shares equal weights. ``imaging`` of ``late-weighted`` is near 0 in four fits and
    0.5 in one: mean 0.12, sd 0.21, so mean - sd is below 0."""
    rna = {"late-weighted": [0.98, 0.97, 0.50, 0.99, 0.96],
           "attention": [0.60, 0.55, 0.70, 0.65, 0.62]}
    rows = []
    for strategy, values in rna.items():
        source = "modality_weights" if strategy == "late-weighted" else "attention_weights"
        for k, w in enumerate(values):
            for modality, value in (("rna", w), ("imaging", 1.0 - w)):
                rows.append({"strategy": strategy, "source": source, "split": f"r0f{k}",
                             "modality": modality, "value": value})
    return pd.DataFrame(rows)


def test_weight_ranges_are_min_and_max_over_fits(weights):
    table = weight_ranges(weights).set_index(["strategy", "modality"])
    img = table.loc[("late-weighted", "imaging")]
    assert img["mean"] == pytest.approx(0.12)
    assert img["low"] == pytest.approx(0.01) and img["high"] == pytest.approx(0.50)
    assert img["fits"] == 5
    w = weights[(weights["strategy"] == "late-weighted") & (weights["modality"] == "imaging")]
    assert img["mean"] - w["value"].std(ddof=1) < 0  # what mean - sd would have drawn
    assert (table["low"] <= table["mean"]).all() and (table["mean"] <= table["high"]).all()
    assert (table["low"] >= 0).all() and (table["high"] <= 1).all()


def test_weights_plot_draws_no_interval_outside_the_unit_interval(weights):
    fig = weights_plot(weights)
    try:
        ax = fig.axes[0]
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == 2  # one per modality
        ranges = weight_ranges(weights)
        for container in bars:
            modality = container.get_label()
            expected = ranges[ranges["modality"] == modality]
            heights = [p.get_height() for p in container.patches]
            np.testing.assert_allclose(heights, expected["mean"])
            # the whiskers: one vertical segment per bar, from low to high
            segments = container.errorbar.lines[2][0].get_segments()
            assert len(segments) == len(expected)
            lows = np.array([min(s[:, 1]) for s in segments])
            highs = np.array([max(s[:, 1]) for s in segments])
            assert (lows >= 0).all() and (highs <= 1).all()
            np.testing.assert_allclose(lows, expected["low"])
            np.testing.assert_allclose(highs, expected["high"])
    finally:
        plt.close(fig)
