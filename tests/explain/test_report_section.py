"""The interpretation section renders real figures and tables from a fitted model."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import torch
from bs4 import BeautifulSoup

from medfuse.explain.features import FeatureAttribution
from medfuse.explain.report_section import (
    CAVEAT,
    interpretation_html,
    top_features_html,
    top_features_table,
)

from .conftest import TinyNet


class AttentiveNet(TinyNet):
    """TinyNet that reports per-subject weights over modalities (softmax of |logit| sizes)."""

    def attention_weights(self, data):
        xs, mask = self._torch_inputs(self.align(data))
        with torch.no_grad():
            size = torch.stack([h(x).abs().sum(1) for h, x in zip(self.module_.heads, xs,
                                                                   strict=True)], 1)
            size = size.masked_fill(~mask, float("-inf"))
            return torch.softmax(size, dim=1).numpy()


def test_section_has_caveat_figures_and_tables(split):
    train, test = split
    model = AttentiveNet(epochs=80).fit(train)
    page = BeautifulSoup(interpretation_html(model, test, max_subjects=20), "html.parser")
    assert CAVEAT in page.get_text(" ")
    images = page.find_all("img")
    assert len(images) == 2                      # modality attribution + attention
    for img in images:
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    tables = page.find_all("table")
    modality_rows = [tr.find_all("td") for tr in tables[0].find_all("tr")[1:]]
    assert modality_rows[0][0].get_text() == "rna"           # the signal modality is first
    values = [float(r[1].get_text()) for r in modality_rows]
    assert values == sorted(values, reverse=True)
    features = [tr.find_all("td")[0].get_text() for tr in tables[1].find_all("tr")[1:]]
    assert "rna" in features
    headings = [h.get_text() for h in page.find_all("h3")]
    assert "Attention weights" in headings
    assert np.isfinite(values).all()


def test_section_skips_feature_shap_above_max_features(split, fitted_local):
    _, test = split
    html = interpretation_html(fitted_local["test:mean-late"], test, max_features=10)
    assert "more than max_features=10" in html
    assert "Which modality drove the predictions" in html


def _attribution(per_feature: dict[tuple[str, str], float], n: int = 4) -> FeatureAttribution:
    """A FeatureAttribution of a binary model whose |value| for class 1 is the given mean for
    every one of ``n`` subjects (signs alternate between subjects)."""
    index = pd.MultiIndex.from_tuples(list(per_feature), names=["modality", "feature"])
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    v1 = sign * np.array(list(per_feature.values()))[None, :]
    values = np.stack([-v1, v1], axis=2)
    return FeatureAttribution(values=values, base_values=np.full((n, 2), 0.5), features=index,
                              subjects=pd.Index([f"S{i}" for i in range(n)]),
                              classes=np.array([0, 1]), method="permutation",
                              background=pd.Index(["B1", "B2", "B3"]))


def test_top_features_are_ranked_within_each_modality():
    # a global ranking would interleave: a1 (.9), c1 (.5), a2 (.1), c2 (.05), a3, ...
    fa = _attribution({("rna", "a1"): 0.9, ("rna", "a2"): 0.1, ("rna", "a3"): 0.01,
                       ("clinical", "c2"): 0.05, ("clinical", "c1"): 0.5,
                       ("noise", "n1"): 0.0, ("noise", "n2"): 0.0})
    table = top_features_table(fa, top=2, class_=1)
    assert list(table.columns) == ["modality", "rank", "feature", "mean |attribution|"]
    assert table[["modality", "rank", "feature"]].values.tolist() == [
        ["rna", 1, "a1"], ["rna", 2, "a2"], ["clinical", 1, "c1"], ["clinical", 2, "c2"]]
    np.testing.assert_allclose(table["mean |attribution|"], [0.9, 0.1, 0.5, 0.05])
    page = BeautifulSoup("".join(top_features_html(fa, 2, 1, n_given=10)), "html.parser")
    text = page.get_text(" ")
    assert "4 subjects, drawn at random (seeded) from the 10 explained here" in text
    assert "3 background subjects" in text
    assert "ranked within their own modality" in text
    assert "No feature of noise changed these predictions" in text
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in page.find_all("tr")[1:]]
    assert [r[:3] for r in rows] == [["rna", "1", "a1"], ["rna", "2", "a2"],
                                     ["clinical", "1", "c1"], ["clinical", "2", "c2"]]


def test_section_says_how_many_subjects_and_background_subjects(split, fitted_local):
    train, test = split
    page = BeautifulSoup(interpretation_html(fitted_local["test:mean-late"], test,
                                             background=train, max_subjects=12,
                                             n_background=7, top=3,
                                             background_label="the training subjects"),
                         "html.parser")
    text = " ".join(page.get_text(" ").split())
    assert (f"12 subjects, drawn at random (seeded) from the {len(test)} explained here"
            in text)
    assert "7 background subjects drawn from the training subjects" in text
    heading = next(h for h in page.find_all("h3") if h.get_text() == "Top features per modality")
    table = heading.find_next("table")
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]]
    modalities = [r[0] for r in rows]
    # each modality's rows are contiguous and ranked 1, 2, ... within it
    assert len(set(modalities)) >= 2
    for m in set(modalities):
        at = [i for i, x in enumerate(modalities) if x == m]
        assert at == list(range(at[0], at[0] + len(at)))
        assert [int(rows[i][1]) for i in at] == list(range(1, len(at) + 1))
        values = [float(rows[i][3]) for i in at]
        assert values == sorted(values, reverse=True) and len(at) <= 3
