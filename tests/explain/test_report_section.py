"""The interpretation section renders real figures and tables from a fitted model."""

from __future__ import annotations

import base64

import numpy as np
import torch
from bs4 import BeautifulSoup

from medfuse.explain.report_section import CAVEAT, interpretation_html

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
