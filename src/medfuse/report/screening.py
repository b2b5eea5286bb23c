"""The report's line on in-fold feature screening (registered as a section provider on
import): which modalities were screened, how, and how many features each kept."""

from __future__ import annotations

import html

from medfuse.report.html import ReportContext, Section, register_section

_HOW = {"variance": "largest variance",
        "univariate": "strongest univariate association with the outcome (ANOVA F; the Cox "
                      "score statistic for survival)"}


@register_section
def screening_section(ctx: ReportContext) -> Section | None:
    """Nothing unless the result's ``settings["screening"]`` records a screening."""
    settings = getattr(ctx.result, "settings", None) or {}
    screening = settings.get("screening")
    if not screening:
        return None
    keep = int(screening.get("keep", 0))
    method = str(screening.get("method", "variance"))
    modalities = [str(m) for m in screening.get("modalities") or []]
    widths = {m: ctx.data.n_features(m) for m in modalities
              if m in ctx.data.modality_names}
    named = ", ".join(f"{m}: {min(keep, widths[m]):,} of {widths[m]:,}" if widths.get(m)
                      else m for m in modalities)
    body = (f"<p>Feature screening: the {keep:,} features of "
            f"{html.escape(_HOW.get(method, method), quote=False)} were kept per modality "
            f"({html.escape(named, quote=False)}), chosen on the training subjects of every "
            "fold (and of the saved model) after any harmonization and before the default "
            "preprocessing; held-out subjects never took part in the choice.</p>")
    return Section("Feature screening", body)
