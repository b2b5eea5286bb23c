"""The interpretation section of a report: HTML with embedded figures from (model, data).

:func:`interpretation_html` computes modality Shapley values, feature attributions and the
strategy's native explanations for a fitted model and renders them as one self-contained
HTML fragment (figures as base64 PNG). The report package embeds it as a section; it can
also be written on its own.
"""

from __future__ import annotations

import base64
import html
import io
import warnings

import numpy as np
import pandas as pd

from medfuse.data.multimodal import MultiModalData
from medfuse.explain.features import feature_shap
from medfuse.explain.modality import modality_shapley
from medfuse.explain.native import native

CAVEAT = (
    "These attributions explain the model, not the disease. They say which inputs moved "
    "this model's predictions on these subjects; they are not evidence that a modality or a "
    "feature causes the outcome. Correlated features can share or swap credit, a modality "
    "can look important because it stands in for a confounder (a site, a batch, a "
    "measurement protocol), and a different model fitted to the same data may rely on other "
    "features.")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" style="max-width:100%" '
            f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(alt)}</figcaption>'
            "</figure>")


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cells = "".join(
            f"<td>{v:.{digits}f}</td>" if isinstance(v, float | np.floating)
            else f"<td>{html.escape(str(v))}</td>" for v in r)
        rows.append(f"<tr>{cells}</tr>")
    body = "".join(rows)
    return (f'<table class="interp"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table>")


def modality_figure(att, class_=None, unit: str = "probability") -> str:
    """Bars of mean |Shapley value| per modality and the per-subject values (strip plot);
    ``unit`` names what the values are in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = att.frame(class_)
    order = list(att.mean_abs(class_).index)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 0.5 * len(order) + 1.8))
    imp = frame.abs().mean()[order]
    ax1.barh(order[::-1], imp[order[::-1]], color="#4c72b0")
    ax1.set_xlabel(f"mean |Shapley value| ({unit})")
    ax1.set_title("Modality attribution")
    rng = np.random.default_rng(0)
    avail = pd.DataFrame(att.available, index=att.subjects, columns=att.modalities)
    for y, m in enumerate(order[::-1]):
        v = frame[m][avail[m]].to_numpy()
        ax2.scatter(v, y + rng.uniform(-0.25, 0.25, len(v)), s=9, alpha=0.6,
                    color=np.where(v >= 0, "#c44e52", "#4c72b0"))
    ax2.axvline(0, color="grey", lw=0.8)
    ax2.set_yticks(range(len(order)), order[::-1])
    ax2.set_xlabel("Shapley value per subject (subjects with the modality)")
    ax2.set_title("Direction and spread")
    fig.tight_layout()
    return _png(fig)


def _modality_table(att, class_=None) -> pd.DataFrame:
    """Per modality: mean |value|, mean value and how many subjects have it."""
    summary = att.frame(class_)
    table = pd.DataFrame({"modality": list(att.mean_abs(class_).index)})
    table["mean |value|"] = [float(summary[m].abs().mean()) for m in table["modality"]]
    table["mean value"] = [float(summary[m].mean()) for m in table["modality"]]
    table["subjects with it"] = [int(att.available[:, att.modalities.index(m)].sum())
                                 for m in table["modality"]]
    return table


def survival_interpretation_html(model, data: MultiModalData,
                                 random_state: int | None = 0) -> str:
    """The interpretation section of a survival model: modality Shapley values of its risk
    score (see :func:`interpretation_html` for classifiers) and its native weights."""
    att = modality_shapley(model, data, random_state=random_state)
    parts = [f'<p class="caveat"><strong>Caveat.</strong> {html.escape(CAVEAT)}</p>',
             "<h3>Which modality drove the predicted risk</h3><p>Shapley values of whole "
             f"modalities for the risk score (higher = earlier event), {len(data)} subjects "
             f"({att.method}); reference: the mean risk of these subjects. A subject's values "
             "add up to its risk minus the reference; modalities it lacks get 0.</p>",
             _img(modality_figure(att, unit="risk score"),
                  "Left: mean |Shapley value| per modality. Right: one dot per subject; red "
                  "raises, blue lowers the predicted risk."),
             _table(_modality_table(att))]
    tables = native(model, data)
    if "modality_weights" in tables:
        parts += ["<h3>The strategy's modality weights</h3><p>As the strategy defines them "
                  "(<code>modality_weights_</code>).</p>", _table(tables["modality_weights"])]
    return "\n".join(parts)


def attention_figure(table: pd.DataFrame) -> str:
    """Box plots of per-subject attention weights by modality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mods = list(dict.fromkeys(table["modality"]))
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(mods) + 1.6))
    ax.boxplot([table.loc[table["modality"] == m, "weight"].to_numpy() for m in mods],
               orientation="horizontal", tick_labels=mods)
    ax.set_xlabel("attention weight per subject")
    ax.set_title("Attention weights")
    fig.tight_layout()
    return _png(fig)


def top_features_table(fa, top: int, class_=None) -> pd.DataFrame:
    """The ``top`` features of each modality by mean |attribution|, ranked within their
    modality (rank 1 = largest); features whose attribution is 0 for every subject are left
    out. Columns ``modality, rank, feature, mean |attribution|``."""
    table = fa.top_features(top, class_)
    return (table[table["mean_abs"] > 0].rename(columns={"mean_abs": "mean |attribution|"})
            .reset_index(drop=True))


def top_features_html(fa, top: int, class_=None, *, n_given: int | None = None,
                      background_from: str = "the explained subjects") -> list[str]:
    """The "Top features per modality" part of the section: what was computed on how many
    subjects (explained and, for permutation SHAP, background), the table of
    :func:`top_features_table` and the modalities none of whose features mattered.

    Parameters
    ----------
    fa : FeatureAttribution
    top : int
        Features listed per modality.
    class_ : optional
        Class explained.
    n_given : int, optional
        Subjects the explained ones were drawn from (said when more than were explained).
    background_from : str
        Where the background subjects came from, for the text.
    """
    n = len(fa.subjects)
    drawn = (f"{n} subjects, drawn at random (seeded) from the {n_given} explained here"
             if n_given is not None and n_given > n else f"{n} subjects")
    if fa.background is None:
        how = ("integrated gradients on the network's inputs, baseline zero (the training "
               "mean); no background subjects")
    else:
        how = (f"permutation SHAP on the raw features; masked features took the values of "
               f"{len(fa.background)} background subjects drawn from {background_from} "
               "with every modality")
    table = top_features_table(fa, top, class_)
    listed = set(table["modality"])
    silent = [m for m in dict.fromkeys(fa.features.get_level_values("modality"))
              if m not in listed]
    parts = [f"<h3>Top features per modality</h3><p>Mean |attribution| over {html.escape(drawn)}"
             f" ({html.escape(how)}). Features are ranked within their own modality (rank 1 "
             f"= the largest of that modality, at most {top} per modality); features of "
             "different modalities are not ranked against each other.</p>",
             _table(table)]
    if silent:
        parts.append(f"<p>No feature of {html.escape(', '.join(silent))} changed these "
                     "predictions.</p>")
    return parts


def interpretation_html(model, data: MultiModalData, *, background: MultiModalData | None = None,
                        max_subjects: int = 30, n_background: int = 10, top: int = 5,
                        max_features: int = 1000, class_=None,
                        background_label: str = "the background data",
                        random_state: int | None = 0) -> str:
    """The interpretation section as an HTML fragment.

    Parameters
    ----------
    model : fitted FusionClassifier
    data : MultiModalData
        Subjects to explain (e.g. the test set); at most ``max_subjects`` of them, drawn at
        random (seeded), for the feature attributions, which cost
        ``O(features * n_background)`` predictions per subject.
    background : MultiModalData, optional
        Reference subjects for permutation SHAP (e.g. the training data); default ``data``.
    background_label : str
        What ``background`` is, for the text (e.g. "the training subjects").
    top : int
        Features listed per modality.
    max_features : int
        Permutation SHAP is skipped (with a note) above this many raw features, where it
        would take long; call :func:`~medfuse.explain.feature_shap` with ``features=``.
    class_ : optional
        Class explained (default: the second class of a binary model; required otherwise
        only for the tables, the first class is used in multiclass figures when omitted).

    Returns
    -------
    str
        Trusted HTML (escape-safe: every user string is escaped).
    """
    classes = list(model.classes_)
    if class_ is None:
        class_ = classes[1] if len(classes) == 2 else classes[0]
    parts = [f'<p class="caveat"><strong>Caveat.</strong> {html.escape(CAVEAT)}</p>']
    att = modality_shapley(model, data, random_state=random_state)
    parts.append(
        f"<h3>Which modality drove the predictions</h3><p>Shapley values of whole modalities "
        f"for the predicted probability of class <code>{html.escape(str(class_))}</code>, "
        f"{len(data)} subjects ({att.method}); reference: the training class frequencies. "
        "A subject's values add up to its prediction minus the reference; modalities it lacks "
        "get 0.</p>")
    parts.append(_img(modality_figure(att, class_),
                      "Left: mean |Shapley value| per modality. Right: one dot per subject; "
                      "red raises, blue lowers the predicted probability."))
    parts.append(_table(_modality_table(att, class_)))

    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(data), size=min(max_subjects, len(data)), replace=False))
    neural = hasattr(model, "module_") and hasattr(model, "_torch_inputs")
    n_features = sum(len(f) if f is not None else 1 for f in model.feature_names_.values())
    try:
        if not neural and n_features > max_features:
            raise ValueError(f"{n_features} features is more than max_features="
                             f"{max_features} for permutation SHAP in a report; use "
                             "medfuse.explain.feature_shap(..., features=...) on a subset")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fa = feature_shap(model, data[idx], background=background,
                              n_background=n_background, n_permutations=1,
                              random_state=random_state)
        parts.extend(top_features_html(
            fa, top, class_, n_given=len(data),
            background_from=(background_label if background is not None
                             else "the explained subjects")))
    except (ValueError, TypeError) as err:
        parts.append(f"<p>Feature attributions unavailable: {html.escape(str(err))}</p>")

    tables = native(model, data)
    if "attention" in tables:
        parts.append("<h3>Attention weights</h3><p>How the network weighted each modality, "
                     "per subject. Attention shows where the network looked, which need not be "
                     "what moved its prediction; compare with the Shapley values above.</p>")
        parts.append(_img(attention_figure(tables["attention"]), "Attention weights"))
    for key, title in (("modality_weights", "Learned modality weights"),
                       ("kernel_weights", "Kernel weights"),
                       ("block_variance", "Explained variance per block")):
        if key in tables:
            parts.append(f"<h3>{title}</h3>")
            parts.append(_table(tables[key]))
    return "\n".join(parts)
