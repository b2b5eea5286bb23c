"""The report's missingness section: Little's test, the MAR probe, the outcome per
availability pattern and the imputation the study used (registered on import)."""

from __future__ import annotations

import html

import numpy as np

from medfuse.report.html import ReportContext, Section, register_section


def _text(value) -> str:
    return html.escape(str(value), quote=False)


@register_section
def missingness_section(ctx: ReportContext) -> Section | None:
    """Nothing when every subject has every modality and no table has missing cells."""
    from medfuse.evaluate.missingness import diagnose_missingness

    diagnostics = diagnose_missingness(ctx.data)
    lines = diagnostics.lines()
    if not lines:
        return None
    body = "<ul>" + "".join(f"<li>{_text(line)}</li>" for line in lines) + "</ul>"
    table = diagnostics.outcome_table
    if table is not None and len(table) > 1:
        rate_columns = [c for c in table.columns if str(c).startswith("rate:")]
        head = "".join(f"<th>{_text(c)}</th>" for c in
                       ["availability pattern", "subjects",
                        *[f"share of {str(c)[5:]}" for c in rate_columns],
                        *(["mean", "sd"] if "mean" in table.columns else [])])
        rows = []
        for pattern, row in table.iterrows():
            cells = [_text(pattern), str(int(row["subjects"]))]
            values = [row[c] for c in rate_columns]
            if "mean" in table.columns:
                values += [row["mean"], row["sd"]]
            cells += ["" if np.isnan(v) else f"{v:.2f}" for v in values]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        body += (f"<table class='metrics'><thead><tr>{head}</tr></thead>"
                 f"<tbody>{''.join(rows)}</tbody></table>")
    settings = getattr(ctx.result, "settings", None) or {}
    impute = settings.get("impute")
    methods = (impute or {}).get("methods") if isinstance(impute, dict) else None
    if methods:
        named = ", ".join(f"{_text(m)}: {_text(v if isinstance(v, str) else v.get('method'))}"
                          for m, v in methods.items())
        count = int(impute.get("n_imputations", 1) or 1)
        how = (f"{count} imputations, predictions pooled" if count > 1 else
               "single imputation")
        body += (f"<p>Missing modalities filled in ({named}; {how}), the imputers refitted on "
                 "the training subjects of every fold.</p>")
    else:
        body += ("<p>No imputation: each strategy handles an absent modality its own way "
                 "(see the strategies' documentation).</p>")
    return Section("Missingness", body)
