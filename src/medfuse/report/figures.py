"""Report figures, rendered by matplotlib (Agg) to base64 PNG for embedding in one HTML file."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from sklearn.metrics import roc_curve

from medfuse.evaluate.metrics import ECE_BINS, confidence_bins, greater_is_better

DPI = 110
MIN_PER_BIN = 5  # calibration bins with fewer subjects are not drawn
SOURCE_LABELS = {"modality_weights": "weights", "kernel_weights": "kernel",
                 "attention_weights": "attention", "attention": "attention"}


def to_base64(fig) -> str:
    """PNG bytes of a figure as a base64 string (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _colors(n: int):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def pooled_predictions(result, strategy: str, repeat: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (y, proba) of one repeat: every training subject predicted once."""
    ys, ps = [], []
    for fr in result.folds:
        if fr.kind == "cv" and fr.strategy == strategy and fr.repeat == repeat:
            p = fr.probabilities()
            ok = ~np.isnan(p).any(axis=1)
            ys.append(np.asarray(fr.y)[ok])
            ps.append(p[ok])
    if not ys:
        return np.zeros(0, int), np.zeros((0, len(result.classes)))
    return np.concatenate(ys), np.vstack(ps)


def _score_and_truth(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary: positive-class probability. Multiclass: one-vs-rest, all classes pooled
    (micro-average)."""
    if p.shape[1] == 2:
        return (y == 1).astype(int), p[:, 1]
    onehot = np.eye(p.shape[1])[y]
    return onehot.ravel().astype(int), p.ravel()


def roc_figure(result, strategies: list[str]) -> str:
    """Out-of-fold ROC curves (first CV repeat) of the given strategies."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for name, color in zip(strategies, _colors(len(strategies)), strict=True):
        y, p = pooled_predictions(result, name)
        if len(y) == 0 or len(np.unique(y)) < 2:
            continue
        truth, score = _score_and_truth(y, p)
        fpr, tpr, _ = roc_curve(truth, score)
        from sklearn.metrics import auc

        ax.plot(fpr, tpr, color=color, lw=1.6, label=f"{name} ({auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1),
           ylim=(0, 1.01))
    multi = len(result.classes) > 2
    ax.set_title("ROC, out-of-fold (repeat 1)" + (", micro-averaged one-vs-rest" if multi
                                                   else ""), fontsize=10)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return to_base64(fig)


def reliability_points(y: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
                       ) -> tuple[list[float], list[float]]:
    """Points of a reliability diagram in equal-width bins of confidence.

    Parameters
    ----------
    y : ndarray, shape (n_subjects,)
        Class indices (0 .. n_classes - 1).
    proba : ndarray, shape (n_subjects, n_classes)
        Predicted probabilities.
    n_bins : int
        Bins over [0, 1]; a bin with fewer than ``MIN_PER_BIN`` subjects is left out.

    Returns
    -------
    xs, ys : list of float
        Mean confidence (binary: P(class 1); else the top probability) and observed frequency
        (binary: of class 1; else of a correct top class) per bin drawn.
    """
    conf, hit, which = confidence_bins(y, proba, n_bins)
    xs, ys = [], []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() >= MIN_PER_BIN:
            xs.append(float(conf[sel].mean()))
            ys.append(float(hit[sel].mean()))
    return xs, ys


def calibration_figure(result, strategies: list[str], n_bins: int = ECE_BINS) -> str:
    """Reliability diagram (equal-width bins) of out-of-fold probabilities."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for name, color in zip(strategies, _colors(len(strategies)), strict=True):
        y, p = pooled_predictions(result, name)
        if len(y) == 0:
            continue
        xs, ys = reliability_points(y, p, n_bins)
        ax.plot(xs, ys, marker="o", ms=3.5, lw=1.4, color=color, label=name)
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    binary = len(result.classes) == 2
    ax.set(xlabel="predicted probability" if binary else "top-label confidence",
           ylabel="observed frequency" if binary else "accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"Calibration, out-of-fold (repeat 1), {n_bins} bins "
                 f"(>= {MIN_PER_BIN} subjects)",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    return to_base64(fig)


def comparison_figure(scores: pd.DataFrame, metric: str, order: list[str]) -> str:
    """Per-split values of one metric: a box per strategy with the splits as points."""
    sel = scores[scores["metric"] == metric]
    data = [sel.loc[sel["strategy"] == s, "value"].dropna().to_numpy() for s in order]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.75 * len(order) + 2), 4.2))
    ax.boxplot(data, widths=0.55, showfliers=False,
               medianprops={"color": "black"})
    rng = np.random.default_rng(0)
    for i, (vals, color) in enumerate(zip(data, _colors(len(order)), strict=True)):
        ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(vals)), vals, s=12, color=color,
                   alpha=0.8, zorder=3)
        if len(vals):
            ax.scatter([i + 1], [vals.mean()], marker="D", s=28, color="black", zorder=4)
    ax.set_xticks(range(1, len(order) + 1), order, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    better = "higher" if greater_is_better(metric) else "lower"
    ax.set_title(f"{metric} per CV split ({better} is better; diamond = mean)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return to_base64(fig)


#: Smallest and largest cell of the robustness heat map (width, height; inches).
ROBUST_CELL_MIN = (0.55, 0.36)
ROBUST_CELL_MAX = (1.5, 0.7)
#: Share of each figure dimension the robustness heat map aims for (0.72 x 0.72 > 1/2).
ROBUST_SHARE = 0.72
#: Availability patterns longer than this (characters) are wrapped after a "+".
WRAP_CHARS = 22


def _wrap_pattern(key: str, width: int = WRAP_CHARS) -> str:
    """``"a+b+c"`` broken after a ``+`` into lines of at most ``width`` characters (a single
    modality name longer than that keeps a line of its own)."""
    lines: list[str] = []
    for part in key.split("+"):
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += "+" + part
        elif lines:
            lines[-1] += "+"
            lines.append(part)
        else:
            lines.append(part)
    return "\n".join(lines)


def _text_inches(fig: Figure, labels: list[str], size: float) -> tuple[float, float]:
    """Width and height (inches) of the largest of some, possibly multi-line, labels."""
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(size=size)
    line_h = renderer.get_text_width_height_descent("Ag", prop, ismath=False)[1] * 1.2
    width, lines = 0.0, 1
    for label in labels:
        parts = str(label).split("\n")
        lines = max(lines, len(parts))
        for part in parts:
            width = max(width, renderer.get_text_width_height_descent(part, prop,
                                                                      ismath=False)[0])
    return width / fig.dpi, lines * line_h / fig.dpi


def _contrast_color(rgba: tuple[float, ...]) -> str:
    """Black or white, whichever reads better on a background of colour ``rgba``."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
               for c in rgba[:3])
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 else "white"


def robustness_plot(robust: pd.DataFrame, metric: str, order: list[str]) -> Figure:
    """The figure of :func:`robustness_figure` (a matplotlib Figure, left open).

    The figure grows with the number of strategies and availability patterns and with their
    longest names, so that the map takes most of the figure and no two tick labels overlap.

    Parameters
    ----------
    robust : DataFrame
        ``strategy, available, metric, mean`` (see ``BenchmarkResult.robustness``).
    metric : str
        The metric drawn.
    order : list of str
        Strategies, top to bottom; those without rows in ``robust`` are left out.

    Returns
    -------
    Figure
        One heat map (strategies x availability patterns) with annotated cells and a
        colorbar.
    """
    sel = robust[robust["metric"] == metric]
    wide = sel.pivot_table(index="strategy", columns="available", values="mean",
                           aggfunc="first", dropna=False)
    cols = list(dict.fromkeys(sel["available"]))
    wide = wide.reindex(index=[s for s in order if s in wide.index], columns=cols)
    rows = [str(s) for s in wide.index]
    col_labels = [_wrap_pattern(str(c)) for c in cols]
    vals = wide.to_numpy(dtype=float)
    n_rows, n_cols = max(len(rows), 1), max(len(cols), 1)

    fig = plt.figure(layout="constrained")
    row_w, _ = _text_inches(fig, rows, 8)
    col_w, col_h = _text_inches(fig, col_labels, 7)
    # margins (inches) around the map: tick labels, axis label, title, colorbar
    left, right, top = row_w + 0.2, 1.0, 0.45
    share = ROBUST_SHARE / (1 - ROBUST_SHARE)
    cell_w = min(max(ROBUST_CELL_MIN[0], share * (left + right) / n_cols),
                 ROBUST_CELL_MAX[0])
    # 45 degrees while neighbouring labels' upright boxes stay apart, else vertical
    diagonal = np.sqrt(0.5) * (col_w + col_h)
    rotation = 45 if diagonal < 0.85 * cell_w else 90
    bottom = (diagonal if rotation == 45 else col_w) + 0.45
    cell_h = min(max(ROBUST_CELL_MIN[1], share * (top + bottom) / n_rows),
                 ROBUST_CELL_MAX[1])
    width = left + right + n_cols * cell_w
    fig.set_size_inches(width, top + bottom + n_rows * cell_h)

    ax = fig.add_subplot()
    cmap = plt.get_cmap("viridis" if greater_is_better(metric) else "viridis_r"
                        ).with_extremes(bad="0.92")
    finite = vals[np.isfinite(vals)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(np.ma.masked_invalid(vals), aspect="auto", cmap=cmap, vmin=lo,
                   vmax=hi if hi > lo else lo + 1e-9)
    for (i, j), v in np.ndenumerate(vals):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color=_contrast_color(cmap(im.norm(v))))
        else:
            ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="0.35")
    ax.set_xticks(range(len(cols)), col_labels, fontsize=7, rotation=rotation, ha="right",
                  va="top" if rotation == 45 else "center", rotation_mode="anchor")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set_xticks(np.arange(-0.5, len(cols)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("modalities available at prediction time", fontsize=9)
    fig.colorbar(im, ax=ax, label=f"mean {metric}", fraction=0.25 / width, pad=0.01,
                 aspect=max(8.0, n_rows * cell_h / 0.18))
    ax.set_title(f"Missing-modality robustness: mean {metric} over CV splits", fontsize=10)
    return fig


def robustness_figure(robust: pd.DataFrame, metric: str, order: list[str]) -> str:
    """Heat map: strategies x available modalities, mean held-out metric, as base64 PNG
    (see :func:`robustness_plot`).

    Parameters
    ----------
    robust : DataFrame
        ``strategy, available, metric, mean`` (see ``BenchmarkResult.robustness``).
    metric : str
        The metric drawn.
    order : list of str
        Strategies, top to bottom; those without rows in ``robust`` are left out.

    Returns
    -------
    str
        The PNG image of the heat map, base64-encoded (ASCII).
    """
    return to_base64(robustness_plot(robust, metric, order))


def weight_ranges(weights: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, source and modality: the mean share of the weights over CV fits and the
    range (smallest and largest share) over those fits.

    Each fit's weights are divided by the sum of their absolute values, so strategies whose
    weights are on different scales can be compared. The range is taken from the fits
    themselves, so it never leaves the bounds the shares have (weights in [0, 1] give a
    range in [0, 1], where mean +- sd could drop below 0).

    Parameters
    ----------
    weights : DataFrame
        One row per fit x modality: ``strategy, source, split, modality, value``.

    Returns
    -------
    DataFrame
        ``strategy, source, modality, mean, low, high, fits`` (one row per strategy x source
        x modality; ``low <= mean <= high``; ``fits`` counts the fits with a finite share).
    """
    w = weights.copy()
    total = w.groupby(["strategy", "source", "split"])["value"].transform(
        lambda v: v.abs().sum())
    w["share"] = np.where(total > 0, w["value"] / total.where(total > 0, 1.0), np.nan)
    g = w.groupby(["strategy", "source", "modality"], sort=False)["share"]
    return pd.DataFrame({"mean": g.mean(), "low": g.min(), "high": g.max(),
                         "fits": g.count()}).reset_index()


def weights_plot(weights: pd.DataFrame):
    """The figure of :func:`weights_figure` (a matplotlib Figure, left open): grouped bars
    of the mean share per modality with whiskers from the smallest to the largest share
    over CV fits (see :func:`weight_ranges`)."""
    summary = weight_ranges(weights)
    groups = list(dict.fromkeys(zip(summary["strategy"], summary["source"], strict=True)))
    mods = list(dict.fromkeys(summary["modality"]))
    fig, ax = plt.subplots(figsize=(min(13.0, 2.5 + 1.1 * len(groups)), 3.6))
    width = min(0.8 / max(len(mods), 1), 0.22)
    for k, (m, color) in enumerate(zip(mods, _colors(len(mods)), strict=True)):
        means, below, above = [], [], []
        for s, src in groups:
            row = summary[(summary["strategy"] == s) & (summary["source"] == src)
                          & (summary["modality"] == m)]
            mean = float(row["mean"].iloc[0]) if len(row) else np.nan
            means.append(mean)
            ok = len(row) and np.isfinite(mean)
            below.append(mean - float(row["low"].iloc[0]) if ok else 0.0)
            above.append(float(row["high"].iloc[0]) - mean if ok else 0.0)
        x = np.arange(len(groups)) + (k - (len(mods) - 1) / 2) * width
        ax.bar(x, means, width, yerr=[below, above], color=color, label=m, capsize=2)
    ax.set_xticks(range(len(groups)), [f"{s}\n({SOURCE_LABELS.get(src, src)})"
                                       for s, src in groups], fontsize=7)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_ylabel("share of the sum of |weights|")
    ax.legend(fontsize=7, frameon=False, title="modality", title_fontsize=7,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Per-modality weights (bar: mean; whiskers: min to max over CV fits)",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def weights_figure(weights: pd.DataFrame) -> str:
    """Grouped bars of per-modality weights as shares of each fit's sum of |weights|: the
    mean over CV fits, with whiskers from the smallest to the largest share over the fits
    (see :func:`weight_ranges`), as base64 PNG.

    ``weights`` has one row per fit x modality: ``strategy, source, split, modality, value``.
    """
    return to_base64(weights_plot(weights))


def availability_figure(available: pd.DataFrame) -> str:
    """Bar chart of availability patterns (which combination of modalities subjects have)."""
    names = list(available.columns)
    patterns = available.value_counts()
    labels = ["+".join(n for n, h in zip(names, combo, strict=True) if h) or "(none)"
              for combo in patterns.index]
    fig, ax = plt.subplots(figsize=(5.5, max(1.6, 0.35 * len(labels) + 0.8)))
    ax.barh(range(len(labels)), patterns.to_numpy(), color="#4c72b0")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("subjects")
    ax.set_title("Availability patterns", fontsize=10)
    for i, v in enumerate(patterns.to_numpy()):
        ax.text(v, i, f" {v}", va="center", fontsize=8)
    return to_base64(fig)


def km_risk_groups(result, strategy: str, repeat: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out ``(event, time, high)`` of one repeat of a survival benchmark: each fold's
    subjects are split at the median of that fold's predicted risk (``high`` = above it)."""
    events, times, high = [], [], []
    for fr in result.folds:
        if fr.kind == "cv" and fr.strategy == strategy and fr.repeat == repeat:
            r = fr.probabilities()[:, 0]
            ok = np.isfinite(r)
            if ok.sum() < 2:
                continue
            events.append(np.asarray(fr.y, dtype=bool)[ok])
            times.append(np.asarray(fr.time, dtype=float)[ok])
            high.append(r[ok] > np.median(r[ok]))
    if not events:
        return np.zeros(0, bool), np.zeros(0), np.zeros(0, bool)
    return np.concatenate(events), np.concatenate(times), np.concatenate(high)


def km_figure(result, strategies: list[str]) -> str:
    """Kaplan-Meier curves of the predicted high- and low-risk halves (held-out folds of the
    first CV repeat), one panel per strategy, with the log-rank p-value."""
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator

    n = len(strategies)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False, sharey=True)
    for ax, s in zip(axes[0], strategies, strict=True):
        event, time, high = km_risk_groups(result, s)
        title = s
        for grp, label, color in ((~high, "low risk", "tab:blue"),
                                  (high, "high risk", "tab:red")):
            if grp.sum() == 0:
                continue
            t, surv = kaplan_meier_estimator(event[grp], time[grp])
            ax.step(np.r_[0.0, t], np.r_[1.0, surv], where="post", color=color,
                    label=f"{label} (n={int(grp.sum())})")
        if high.any() and (~high).any() and event.any():
            y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
            y["event"], y["time"] = event, time
            _, p = compare_survival(y, high.astype(int))
            title += f"\nlog-rank p = {p:.2g}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylabel("event-free probability")
    fig.tight_layout()
    return to_base64(fig)
