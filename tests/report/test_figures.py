"""The report's figures draw what their data say (inspected through the matplotlib artists)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer

from medfuse.report.figures import robustness_plot, weight_ranges, weights_plot


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


LONG_MODALITIES = ["methylation_long_name", "copy_number_long_name", "rna"]
LONG_STRATEGIES = [f"{kind}:{m}" for kind in ("unimodal-gb", "unimodal-lr")
                   for m in LONG_MODALITIES] + ["early-concatenation_long_name",
                                                "late-weighted_stacking_long_name"]


def _robust_table(metric: str) -> pd.DataFrame:
    """8 strategies x the 7 availability patterns of 3 long-named modalities; a unimodal
    strategy is n/a (NaN) where its modality is hidden."""
    mods = LONG_MODALITIES
    patterns = ["+".join(mods), *("+".join(mods[:i] + mods[i + 1:]) for i in range(3)), *mods]
    rng = np.random.default_rng(0)
    rows = [{"strategy": s, "available": p, "metric": metric, "sd": 0.01,
             "mean": (np.nan if ":" in s and s.split(":")[1] not in p.split("+")
                      else rng.uniform(0.5, 0.95))}
            for s in LONG_STRATEGIES for p in patterns]
    return pd.DataFrame(rows)


def _luminance(color) -> float:
    """Relative luminance (WCAG) of a matplotlib colour."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
           for c in to_rgba(color)[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_robustness_plot_keeps_long_labels_apart_and_the_map_large():
    fig = robustness_plot(_robust_table("roc_auc"), "roc_auc", LONG_STRATEGIES)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        heat = next(ax for ax in fig.axes if ax.images and ax.get_yticklabels())
        assert [t.get_text() for t in heat.get_yticklabels()] == LONG_STRATEGIES
        assert len(heat.get_xticklabels()) == 7
        for labels in (heat.get_xticklabels(), heat.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert not a.overlaps(b), (a, b)
            # every label inside the figure
            fig_box = fig.bbox
            assert all(fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 and fig_box.y0 <= b.y0
                       and b.y1 <= fig_box.y1 for b in boxes)
        pos = heat.get_position()
        assert pos.width * pos.height >= 0.5
        assert len(fig.axes) == 2  # the map and its colorbar
    finally:
        plt.close(fig)


@pytest.mark.parametrize("metric", ["roc_auc", "brier"])
def test_robustness_plot_annotations_contrast_with_their_cells(metric):
    """WCAG contrast ratio >= 4.5 between each value and its cell, whichever way the colour
    map runs (``brier``: lower is better, so the map is reversed)."""
    table = _robust_table(metric)
    fig = robustness_plot(table, metric, LONG_STRATEGIES)
    try:
        heat = next(ax for ax in fig.axes if ax.images and ax.get_yticklabels())
        image = heat.images[0]
        data = image.get_array()
        checked = 0
        for text in heat.texts:
            j, i = (round(v) for v in text.get_position())
            if np.ma.is_masked(data[i, j]):
                assert text.get_text() == "n/a"
                continue
            assert text.get_text() == f"{data[i, j]:.2f}"
            cell = _luminance(image.cmap(image.norm(data[i, j])))
            ink = _luminance(text.get_color())
            ratio = (max(cell, ink) + 0.05) / (min(cell, ink) + 0.05)
            assert ratio >= 4.5, (text.get_text(), text.get_color(), ratio)
            checked += 1
        assert checked == int(table["mean"].notna().sum())
    finally:
        plt.close(fig)
