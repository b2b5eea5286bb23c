"""The report's section on what the study hands over (registered as a section provider on
import): the ``select:`` rule, the ensemble's weights and class weighting with the scores
that chose them, the one-standard-error table, and how stable the choices were from one
outer fold to the next."""

from __future__ import annotations

import html
import itertools
from collections import Counter

from medfuse.fusion.ensemble_selection import prior_words
from medfuse.report.html import ReportContext, Section, register_section


def _e(text) -> str:
    return html.escape(str(text), quote=False)


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@register_section
def handover_section(ctx: ReportContext) -> Section | None:
    """Nothing unless the result's settings record what was handed over."""
    settings = getattr(ctx.result, "settings", None) or {}
    handover = settings.get("handover")
    chosen = settings.get("handed_over") or {}
    if not handover and not chosen:
        return None
    parts = []
    if handover:
        parts.append(f"<p>Handed over: <b>{_e(handover.get('name'))}</b> (<code>select: "
                     f"{_e(handover.get('select'))}</code>), refitted on every training "
                     "subject.</p>")
        parts += [f"<p>{_e(note)}</p>" for note in handover.get("notes", [])]
    if chosen.get("weights"):
        parts.append(
            "<p>Ensemble selection (greedy forward selection with replacement over the "
            f"strategies' CV out-of-fold probabilities, {len(chosen['rounds']['picks'])} "
            f"rounds, the best {chosen['rounds']['kept']} kept; ties broken by log loss, then "
            "by the study's order):</p>")
        parts.append(_table(["strategy", "weight"], [
            [n, f"{w:.3f}"] for n, w in sorted(chosen["weights"].items(),
                                               key=lambda kv: -kv[1])]))
        scores = chosen.get("prior_scores") or {}
        if scores:
            metric = ctx.result.primary_metric
            parts.append(
                f"<p>Class weighting: {_e(prior_words(chosen.get('prior')))}. Out-of-fold "
                f"{_e(metric)} and log loss of the two, chosen by "
                + ("log loss (the AUC hardly changes when the class balance is moved; the "
                   "decision threshold, hence accuracy and F1, does)" if metric == "roc_auc"
                   else _e(metric)) + ":</p>")
            parts.append(_table(["class weighting", metric, "log loss"], [
                [prior_words(k), f"{v['score']:.4f}", f"{v['log_loss']:.4f}"]
                for k, v in scores.items()]))
    table = chosen.get("select_table") or []
    if table:
        parts.append(f"<p>One-standard-error rule (<code>select: best</code>): the simplest "
                     f"strategy within one standard error of the best mean CV score picks "
                     f"<b>{_e(chosen.get('select_best'))}</b>.</p>")
        parts.append(_table(["strategy", "mean", "se", "within 1 SE"], [
            [r["strategy"], f"{r['mean']:.4f}", f"{r['se']:.4f}", "yes" if r["within"]
             else ""] for r in sorted(table, key=lambda r: -r["mean"])]))
    per_split = chosen.get("per_split") or {}
    if per_split:
        picks = Counter(v["select_best"] for v in per_split.values())
        lead = Counter(max(v["weights"], key=v["weights"].get) for v in per_split.values())
        parts.append(
            f"<p>Stability, decided inside each of {len(per_split)} outer folds from its "
            f"training subjects only: <code>select-best</code> chose "
            + ", ".join(f"{_e(n)} {k}x" for n, k in picks.most_common())
            + " (changed " + _e(_changes([v["select_best"] for v in per_split.values()]))
            + " times from one fold to the next); the ensemble's heaviest member was "
            + ", ".join(f"{_e(n)} {k}x" for n, k in lead.most_common()) + ".</p>")
        parts.append(_table(["outer fold", "ensemble weights", "class weighting",
                             "select-best"], [
            [label, ", ".join(f"{n} {w:.2f}" for n, w in sorted(
                v["weights"].items(), key=lambda kv: -kv[1])), prior_words(v["prior"]),
             v["select_best"]] for label, v in per_split.items()]))
    return Section("What is handed over", "\n".join(parts), id="handover")


def _changes(seq: list[str]) -> int:
    return sum(a != b for a, b in itertools.pairwise(seq))
