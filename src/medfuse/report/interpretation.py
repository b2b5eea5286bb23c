"""The report's interpretation section, computed by :mod:`medfuse.explain` for the refitted
best model (registered as a section provider on import)."""

from __future__ import annotations

import html
import warnings

from medfuse.fusion.base import is_survival
from medfuse.report.html import ReportContext, Section, register_section


@register_section
def interpretation_section(ctx: ReportContext) -> Section | None:
    """Modality attributions, top features, attention and native weights of ``ctx.model``
    (survival models: modality attributions of the risk and native weights), on the test
    subjects when there are any, else on the training subjects (in-sample).
    Nothing when the report has no refitted model or explanations are turned off.

    Permutation SHAP costs features x background predictions per subject, so above 200
    features it is computed for 20 subjects against 5 background subjects."""
    if ctx.model is None or not ctx.explain:
        return None
    try:
        from medfuse.explain.report_section import (
            interpretation_html,
            survival_interpretation_html,
        )
    except ImportError:  # the optional explain extra (shap, captum) is not installed
        return None
    survival = is_survival(ctx.model)

    data, where = ((ctx.test, "the test subjects") if ctx.test is not None else
                   (ctx.data, "the training subjects (in-sample: the model was fitted on "
                              "them)"))
    name = getattr(ctx.result, "best", None) or type(ctx.model).__name__
    intro = (f"<p>Explained model: <code>{html.escape(str(name))}</code>, refitted on all "
             f"training subjects; explained on {html.escape(where)}.</p>")
    n_features = sum(len(v) for v in getattr(ctx.model, "feature_names_", {}).values()
                     if v is not None)
    cost = {} if n_features <= 200 else {"max_subjects": 20, "n_background": 5}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body = (survival_interpretation_html(ctx.model, data) if survival else
                    interpretation_html(ctx.model, data, background=ctx.data,
                                        background_label="the training subjects", **cost))
    except (ValueError, TypeError, RuntimeError) as err:
        body = f"<p>No interpretation could be computed: {html.escape(str(err))}</p>"
    return Section("Interpretation", intro + body)
