"""The benchmark report: one self-contained HTML file (figures embedded as base64 PNG).

Extension point: other parts of medfuse (e.g. ``medfuse.explain``) add sections with
:func:`register_section`; a provider is called with the :class:`ReportContext` and returns a
:class:`Section` (or None to add nothing). Sections can also be passed per call with
``extra_sections``.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

import medfuse
from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.metrics import METRICS, greater_is_better

DASH = "\u2013"  # shown for undefined values
PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "torch", "scikit-survival", "skops",
            "matplotlib", "jinja2")


@dataclass
class Section:
    """One report section: a title and trusted HTML content (escape user text yourself).

    Parameters
    ----------
    title : str
        The section's heading.
    html : str
        Its content, inserted as is.
    id : str
        The anchor of the section (default: from the title).
    """

    title: str
    html: str
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


@dataclass
class ReportContext:
    """What a section provider can use: the benchmark result, the data and the fitted best
    model (None when not refitted).

    Parameters
    ----------
    result : BenchmarkResult
        The benchmark.
    data : MultiModalData
        The training data.
    test : MultiModalData, optional
        The external test data.
    model : estimator, optional
        The best strategy refitted on all training subjects (None when not refitted).
    study : dict
        The study settings.
    explain : bool
        False when the user turned explanations off (providers that explain the model then
        add nothing).
    """

    result: object
    data: MultiModalData
    test: MultiModalData | None = None
    model: object = None
    study: dict = field(default_factory=dict)
    explain: bool = True


SectionProvider = Callable[[ReportContext], "Section | None"]
SECTION_PROVIDERS: list[SectionProvider] = []


def register_section(provider: SectionProvider) -> SectionProvider:
    """Add a section provider to every report (usable as a decorator).

    Parameters
    ----------
    provider : callable
        ``provider(context: ReportContext) -> Section | None``.

    Returns
    -------
    callable
        ``provider`` itself.
    """
    if provider not in SECTION_PROVIDERS:
        SECTION_PROVIDERS.append(provider)
    return provider


# ---------------------------------------------------------------------- tables
def _fmt(v: float, digits: int = 3) -> str:
    return DASH if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _fmt_sd(sd: float, digits: int = 3) -> str:
    """An sd with ``digits`` decimals; one that is not 0 but would round to 0 is shown as
    ``<0.001`` (for 3 digits), so that ``0.000`` always means exactly 0."""
    if sd is None or not np.isfinite(sd):
        return DASH
    if 0 < sd < 0.5 * 10.0 ** -digits:
        return f"<{10.0 ** -digits:.{digits}f}"
    return f"{sd:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return DASH
    return "< 0.001" if p < 1e-3 else f"{p:.3f}"


def metrics_table(results: pd.DataFrame, split: str, order: Sequence[str],
                  deterministic: Collection[str] = ()) -> dict | None:
    """Paper-style table: strategies x metrics, ``mean ± sd``, best per column in bold.

    Parameters
    ----------
    results : the ``results()`` table of a benchmark.
    split : ``"cv"`` or ``"test"``.
    order : strategies, in the order of the rows.
    deterministic : strategies whose results do not depend on the seed (see
        ``BenchmarkResult.deterministic_strategies``): their rows show the one value,
        without ``± sd``, and are marked ``deterministic``. Other rows show ``± <0.001``
        for an sd that is not 0 but rounds to 0.000.

    Returns
    -------
    dict with ``metrics``, ``arrows``, ``rows`` (``strategy``, ``deterministic``, ``cells``),
    ``n`` (the largest number of values averaged in a row that is not deterministic; None if
    every row is) and ``any_deterministic``; None when ``results`` has nothing for ``split``.
    """
    sel = results[results["split"] == split]
    if sel.empty:
        return None
    deterministic = set(deterministic)
    metrics = [m for m, spec in METRICS.items() if spec.in_report and m in set(sel["metric"])]
    rows = []
    best = {}
    for m in metrics:
        col = sel[sel["metric"] == m].set_index("strategy")["mean"].dropna()
        if len(col):
            best[m] = col.max() if greater_is_better(m) else col.min()
    counts = []
    for s in order:
        fixed = s in deterministic
        cells = []
        for m in metrics:
            r = sel[(sel["strategy"] == s) & (sel["metric"] == m)]
            if r.empty:
                cells.append({"text": DASH, "best": False})
                continue
            mean, sd = float(r["mean"].iloc[0]), float(r["sd"].iloc[0])
            if not fixed:
                counts.append(int(r["n"].iloc[0]))
            text = _fmt(mean) + (f" ± {_fmt_sd(sd)}" if np.isfinite(sd) and not fixed else "")
            cells.append({"text": text, "best": m in best and np.isclose(mean, best[m])})
        if any(c["text"] != DASH for c in cells):
            rows.append({"strategy": s, "deterministic": fixed, "cells": cells})
    arrows = {m: ("↑" if greater_is_better(m) else "↓") for m in metrics}
    return {"metrics": metrics, "arrows": arrows, "rows": rows,
            "n": max(counts) if counts else None,
            "any_deterministic": any(r["deterministic"] for r in rows)}


def data_summary(data: MultiModalData, test: MultiModalData | None) -> dict:
    """Subjects per modality, class balance and batches of the training (and test) data."""
    from medfuse.report.figures import availability_figure

    out = {"cohorts": []}
    for label, d in (("training", data), ("test", test)):
        if d is None:
            continue
        frame = d.summary_frame().reset_index()
        classes = d.y.value_counts().sort_index() if d.outcome else pd.Series(dtype=int)
        if d.outcome is None and "event" in d.obs.columns:  # survival: events / censored
            classes = (d.obs["event"].astype(bool).map({True: "event", False: "censored"})
                       .value_counts().sort_index())
        batches = None
        for col in ("batch", "site"):
            if col in d.obs.columns:
                batches = d.obs[col].value_counts().sort_index()
                break
        out["cohorts"].append({
            "label": label, "n": len(d),
            "modalities": frame.to_dict("records"),
            "classes": [{"label": str(k), "n": int(v), "share": v / max(len(d), 1)}
                        for k, v in classes.items()],
            "outcome": d.outcome,
            "batches": (None if batches is None else
                        [{"label": str(k), "n": int(v)} for k, v in batches.items()]),
        })
    out["availability_png"] = availability_figure(data.available)
    return out


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "medfuse": medfuse.__version__}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    return versions


# ---------------------------------------------------------------------- rendering
def render_report(result, data: MultiModalData, *, test: MultiModalData | None = None,
                  model=None, study: dict | None = None, title: str = "medfuse benchmark",
                  extra_sections: Sequence[Section] = (), explain: bool = True) -> str:
    """The report as an HTML string.

    Parameters
    ----------
    result : BenchmarkResult
        The benchmark (:func:`medfuse.evaluate.run_benchmark`).
    data : MultiModalData
        The training data.
    test : MultiModalData, optional
        The external test data.
    model : estimator, optional
        The refitted best model, for sections that explain it.
    study : dict, optional
        The study settings (shown verbatim in the settings section).
    title : str
        The page's title.
    extra_sections : sequence of Section
        More sections, appended after the registered providers' ones.
    explain : bool
        Let providers that explain ``model`` (the interpretation section) run.

    Returns
    -------
    str
        One self-contained HTML document (figures embedded as base64 PNG).
    """
    from medfuse.report import figures as fig

    metric = result.primary_metric
    results = result.results()
    ranking = result.ranking("cv")
    if ranking.empty:
        ranking = result.ranking("test")
    order = list(ranking.index) + [s for s in result.strategies if s not in ranking.index]
    scores = result.split_scores("cv")
    robust = result.robustness()
    weights = result.fold_weights()
    comparison = result.comparison()
    top = order[: min(len(order), 8)]
    survival = getattr(result, "task", "classification") == "survival"
    ctx = ReportContext(result=result, data=data, test=test, model=model, study=study or {},
                        explain=explain)
    sections: list[Section] = []
    for provider in SECTION_PROVIDERS:
        s = provider(ctx)
        if s is not None:
            sections.append(s)
    sections.extend(extra_sections)
    comp_rows = []
    for _, r in comparison.iterrows():
        comp_rows.append({"strategy": r["strategy"], "reference": r["reference"],
                          "reference_strategy": r["reference_strategy"],
                          "diff": _fmt(r["mean_diff"]), "t": _fmt(r["t"], 2),
                          "p": _fmt_p(r["p_value"]), "n": int(r["n"]),
                          "significant": bool(np.isfinite(r["p_value"])
                                              and r["p_value"] < 0.05)})
    env = Environment(loader=PackageLoader("medfuse.report", "templates"),
                      autoescape=select_autoescape(["html"]))
    template = env.get_template("report.html")
    settings_text = _settings_text(study or {}, result.settings)
    return template.render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        metric=metric,
        best=result.best,
        n_splits=len(result.splits),
        classes=[str(c) for c in result.classes],
        summary=data_summary(data, test),
        cv_table=metrics_table(results, "cv", order),
        test_table=metrics_table(results, "test", order,
                                 deterministic=result.deterministic_strategies()),
        comparison=comp_rows,
        survival=survival,
        roc_png=fig.roc_figure(result, top) if not scores.empty and not survival else None,
        calibration_png=(fig.calibration_figure(result, top)
                         if not scores.empty and not survival else None),
        km_png=fig.km_figure(result, top[:3]) if not scores.empty and survival else None,
        compare_png=(fig.comparison_figure(scores, metric, order) if not scores.empty
                     else None),
        robust_png=(fig.robustness_figure(robust, metric, order) if not robust.empty
                    else None),
        robust_subsets=len(set(robust["available"])) if not robust.empty else 0,
        weights_png=fig.weights_figure(weights) if not weights.empty else None,
        errors=result.errors,
        sections=sections,
        settings_text=settings_text,
        versions=package_versions(),
        command=" ".join(sys.argv[1:]) if sys.argv else "",
    )


def _settings_text(study: dict, settings: dict) -> str:
    import yaml

    doc = {"study": study, "run": settings} if study else {"run": settings}
    return yaml.safe_dump(_plain(doc), sort_keys=False, default_flow_style=False)


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def write_report(path: str | Path, result, data: MultiModalData, **kwargs) -> Path:
    """Render the report (see :func:`render_report`) to ``path``.

    Parameters
    ----------
    path : str or Path
        The HTML file (its folder is created; a link at ``path`` is refused, never
        written through).
    result : BenchmarkResult
        The benchmark.
    data : MultiModalData
        The training data.
    **kwargs
        The keyword arguments of :func:`render_report`.

    Returns
    -------
    Path
        ``path``.
    """
    from medfuse.files import confined_folder, write_file

    path = Path(path)
    confined_folder(path.parent)
    return write_file(path, render_report(result, data, **kwargs))
