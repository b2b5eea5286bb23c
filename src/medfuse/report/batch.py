"""The report's line on batch and outcome: Cramér's V of the two in the training subjects
of every fold, and the harmonization, if any (registered as a section provider on import)."""

from __future__ import annotations

import html

import numpy as np

from medfuse.report.html import ReportContext, Section, register_section


@register_section
def batch_section(ctx: ReportContext) -> Section | None:
    """Nothing when the study names no batch column (``settings["batch"]`` of the result)
    or the data lacks it."""
    from medfuse.evaluate.confounding import association_line, batch_outcome_association

    settings = getattr(ctx.result, "settings", None) or {}
    batch = settings.get("batch")
    obs = ctx.data.obs
    if not batch or batch not in obs.columns:
        return None
    if ctx.data.outcome is not None:
        y, outcome = np.asarray(ctx.data.y), ctx.data.outcome
    elif "event" in obs.columns:
        y, outcome = obs["event"].to_numpy(), "event"
    else:
        return None
    splits = [s for s in getattr(ctx.result, "splits", []) if hasattr(s, "train")]
    table = batch_outcome_association(obs[batch].to_numpy(), y, splits or None)
    body = f"<p>{html.escape(association_line(table, batch, outcome), quote=False)}</p>"
    harmonize = settings.get("harmonize")
    if harmonize:
        method = html.escape(str(harmonize.get("method", "ComBat")), quote=False)
        covariates = harmonize.get("covariates") or []
        body += (f"<p>Harmonized with {method}, refitted on the training subjects of every "
                 "fold" + (f", protecting {len(covariates)} covariate(s)" if covariates else
                           ", without protected covariates") + ".</p>")
    return Section("Batch and outcome", body)
