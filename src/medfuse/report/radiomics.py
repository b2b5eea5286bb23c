"""The report's section on radiomics (registered as a section provider on import): how the
handed-over model measured its images, and, where it dropped unstable features inside the
fold, how robust each feature was to perturbation (ICC)."""

from __future__ import annotations

import html

import numpy as np

from medfuse.report.html import ReportContext, Section, register_section

#: The least stable features listed per modality.
SHOWN = 12


def _representations(model, depth: int = 0) -> dict[str, object]:
    """Fitted representations of a model, by modality, found through its wrappers (the
    representation step, ``estimator_``, ensemble members)."""
    if model is None or depth > 4:
        return {}
    found = dict(getattr(getattr(model, "step_", None), "representations_", None) or {})
    for attr in ("estimator_", "members_"):
        inner = getattr(model, attr, None)
        items = inner.values() if isinstance(inner, dict) else (
            inner if isinstance(inner, list | tuple) else [inner])
        for item in items:
            for name, rep in _representations(item, depth + 1).items():
                found.setdefault(name, rep)
    return found


def _how(rep) -> str:
    params = rep.get_params()
    parts = [f"preset {params['preset']}" if params.get("preset") else "default settings"]
    if params.get("settings"):
        parts.append("settings " + ", ".join(f"{k}={v}" for k, v in params["settings"].items()))
    if params.get("families"):
        parts.append("families " + ", ".join(params["families"]))
    if params.get("match_fwhm") is not None:
        parts.append(f"resolution matched to FWHM {params['match_fwhm']} mm")
    if params.get("normalize"):
        parts.append(f"intensities normalised by {params['normalize']}")
    return "; ".join(parts)


@register_section
def radiomics_section(ctx: ReportContext) -> Section | None:
    """Nothing unless the handed-over model measures a modality with IBSI radiomics."""
    reps = {m: r for m, r in _representations(ctx.model).items()
            if hasattr(r, "feature_icc_") and hasattr(r, "feature_names_out_")}
    if not reps:
        return None
    parts = []
    for modality, rep in reps.items():
        name = html.escape(str(modality), quote=False)
        kept = len(rep.feature_names_out_)
        text = (f"<p><b>{name}</b>: {kept:,} IBSI-1 features "
                f"({html.escape(_how(rep), quote=False)}), computed per subject inside "
                "every fold.")
        icc = {k: float(v) for k, v in (rep.feature_icc_ or {}).items()}
        if icc:
            threshold = rep.get_params()["min_icc"]
            dropped = list(rep.dropped_features_)
            text += (f" Features whose ICC(1,1) over {rep.get_params()['icc_perturbations']} "
                     f"perturbed copies (rotation, sub-voxel shift, noise, mask erosion and "
                     f"dilation) of the training subjects fell below {threshold} were "
                     f"dropped: {len(dropped):,} of {kept + len(dropped):,}.</p>")
            order = sorted(icc, key=lambda k: (np.nan_to_num(icc[k], nan=-np.inf), k))
            rows = "".join(
                f"<tr><td>{html.escape(k, quote=False)}</td><td>"
                f"{'n/a' if np.isnan(icc[k]) else f'{icc[k]:.3f}'}</td><td>"
                f"{'dropped' if k in dropped else 'kept'}</td></tr>" for k in order[:SHOWN])
            text += ("<table><thead><tr><th>least stable features</th><th>ICC</th>"
                     f"<th></th></tr></thead><tbody>{rows}</tbody></table>")
        else:
            text += " No robustness filter was applied (min_icc not set).</p>"
        parts.append(text)
    return Section("Radiomics", "".join(parts))
