"""The report's section on trustworthy probabilities: calibration (ECE and reliability
diagrams) per availability pattern, conformal coverage and set size, and risk-coverage
curves of selective prediction (registered as a section provider on import).

Everything is computed from the out-of-fold predictions of the first CV repeat (every
training subject predicted once, by a model that did not see it); see
:mod:`medfuse.evaluate.coverage`.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from medfuse.evaluate.coverage import (
    abstention_point,
    pattern_calibration,
    pooled_by_pattern,
    risk_coverage,
)
from medfuse.evaluate.metrics import ECE_BINS
from medfuse.report.figures import reliability_points
from medfuse.report.html import DASH, ReportContext, Section, register_section

#: strategies shown (best first)
MAX_STRATEGIES = 4
#: patterns drawn as reliability diagrams (largest first)
MAX_PATTERNS = 6

CAVEAT = (
    "Coverage is the share of held-out subjects whose prediction set holds their class; "
    "split conformal guarantees at least 1 - alpha on average over calibration and test "
    "subjects, per Mondrian category. Subjects of a pattern with too few calibration "
    "subjects get sets from the marginal scores (on average over patterns). Scores made by "
    "hiding modalities (pattern augmentation) stand for subjects who really lack them only "
    "when those modalities are missing at random.")


@register_section
def calibration_section(ctx: ReportContext) -> Section | None:
    """Nothing for survival results or results without CV predictions."""
    result = ctx.result
    if getattr(result, "task", "classification") != "classification":
        return None
    ranking = result.ranking("cv")
    order = [s for s in ranking.index if any(fr.kind == "cv" and fr.strategy == s
                                             for fr in result.folds)]
    if not order:
        return None
    shown = order[:MAX_STRATEGIES]
    tables = {s: pattern_calibration(result, s) for s in shown}
    settings = (getattr(result, "settings", None) or {}).get("conformal")
    parts = [_intro(settings, len(result.classes))]
    parts.append(_table(tables))
    best = shown[0]
    pooled = pooled_by_pattern(result, best)
    parts.append(_img(_reliability_figure(pooled, len(result.classes)),
                      f"Reliability per availability pattern: {best}, out-of-fold "
                      "(repeat 1)" + (", before (dashed) and after recalibration"
                                      if pooled["uncalibrated"].notna().all() else "")))
    parts.append(_img(_risk_coverage_figure(result, shown),
                      "Risk-coverage: error rate of the most confident subjects as fewer "
                      "are predicted (selective prediction by top-class probability); "
                      "markers: abstaining where the conformal set is not one class"))
    if settings:
        parts.append(f"<p class='note'>{html.escape(CAVEAT)}</p>")
    return Section("Calibration and uncertainty by availability pattern", "".join(parts))


def _intro(settings: dict | None, n_classes: int) -> str:
    binary = "positive-class probability" if n_classes == 2 else "top-class confidence"
    text = (f"<p>ECE ({ECE_BINS} bins, {binary}) of the out-of-fold probabilities of the "
            "first CV repeat, over all subjects and per availability pattern (the "
            "modalities a subject has).")
    if settings:
        alpha = settings.get("alpha", 0.1)
        mondrian = settings.get("mondrian")
        text += (f" Every strategy is wrapped in conformal prediction at alpha = "
                 f"{float(alpha):g} ({html.escape(str(settings.get('method', 'split')))}, "
                 + ("Mondrian by availability pattern" if mondrian == "pattern" else
                    "class-conditional" if mondrian == "class" else "marginal")
                 + (", calibration subjects augmented by hiding modalities"
                    if settings.get("pattern_augment") else "")
                 + (f", recalibrated with {html.escape(str(settings['calibration']))}"
                    if settings.get("calibration") else "")
                 + "), with calibration subjects from each fold's training part; "
                 "results.csv has coverage[&lt;pattern&gt;] and set_size[&lt;pattern&gt;] "
                 "over all splits.")
    return text + "</p>"


def _fmt(v) -> str:
    return DASH if v is None or not np.isfinite(v) else f"{v:.3f}"


def _table(tables: dict[str, pd.DataFrame]) -> str:
    head = ("<tr><th>strategy</th><th>pattern</th><th>n</th><th>ECE before</th>"
            "<th>ECE</th><th>coverage</th><th>set size</th></tr>")
    rows = []
    for strategy, table in tables.items():
        for _, r in table.iterrows():
            rows.append(
                f"<tr><td>{html.escape(strategy)}</td><td>{html.escape(str(r['pattern']))}"
                f"</td><td>{int(r['n'])}</td><td>{_fmt(r['ece_before'])}</td>"
                f"<td>{_fmt(r['ece'])}</td><td>{_fmt(r['coverage'])}</td>"
                f"<td>{_fmt(r['set_size'])}</td></tr>")
    return f"<table class='interp'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _img(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" style="max-width:100%" '
            f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>")


def _reliability_figure(pooled: pd.DataFrame, n_classes: int) -> str:
    import matplotlib.pyplot as plt

    from medfuse.report.figures import to_base64

    counts = pooled["pattern"].value_counts()
    groups = [("all subjects", np.ones(len(pooled), dtype=bool))]
    if len(counts) > 1:
        groups += [(p, (pooled["pattern"] == p).to_numpy())
                   for p in counts.index[:MAX_PATTERNS]]
    cols = min(len(groups), 4)
    rows = int(np.ceil(len(groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.1 * rows), squeeze=False)
    raw_known = pooled["uncalibrated"].notna().all()
    for ax, (name, sel) in zip(axes.ravel(), groups, strict=False):
        part = pooled[sel]
        y = part["y"].to_numpy()
        xs, ys = reliability_points(y, np.vstack(part["proba"]))
        ax.plot(xs, ys, marker="o", ms=3, lw=1.4, color="#4c72b0", label="reported")
        if raw_known:
            xs, ys = reliability_points(y, np.vstack(part["uncalibrated"]))
            ax.plot(xs, ys, marker="o", ms=3, lw=1.2, ls="--", color="#dd8452",
                    label="before recalibration")
        ax.plot([0, 1], [0, 1], ls=":", color="0.6", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"{name} (n={int(sel.sum())})")
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    axes[0, 0].set_xlabel("predicted probability" if n_classes == 2 else "confidence",
                          fontsize=8)
    axes[0, 0].set_ylabel("observed frequency" if n_classes == 2 else "accuracy",
                          fontsize=8)
    axes[0, 0].legend(fontsize=6, frameon=False, loc="upper left")
    fig.tight_layout()
    return to_base64(fig)


def _risk_coverage_figure(result, strategies: list[str]) -> str:
    import matplotlib.pyplot as plt

    from medfuse.report.figures import _colors, to_base64

    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for name, color in zip(strategies, _colors(len(strategies)), strict=True):
        pooled = pooled_by_pattern(result, name)
        if pooled.empty:
            continue
        y = pooled["y"].to_numpy()
        cov, risk = risk_coverage(y, np.vstack(pooled["proba"]))
        ax.plot(cov, risk, lw=1.4, color=color, label=name)
        if pooled["set"].notna().all():
            share, error = abstention_point(y, np.vstack(pooled["set"]))
            if share > 0:
                ax.plot([share], [error], marker="D", ms=6, color=color, mec="black")
    ax.set(xlabel="coverage (share of subjects predicted)", ylabel="risk (error rate)",
           xlim=(0, 1), ylim=(0, None))
    ax.legend(fontsize=7, frameon=False)
    return to_base64(fig)
