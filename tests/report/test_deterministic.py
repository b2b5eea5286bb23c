"""Test-set results of strategies that do not depend on the seed are shown as one value
("deterministic"), not as a mean ± 0.000 over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from medfuse.evaluate import run_benchmark
from medfuse.report import write_report
from medfuse.report.html import metrics_table
from tests import reference_strategies as ref


class NoSeed(ref.MeanLogistic):
    """MeanLogistic without a ``random_state`` parameter: the benchmark refits it once."""

    def __init__(self, C: float = 1.0, preprocessors=None, tag: str = "noseed"):
        self.C = C
        self.preprocessors = preprocessors
        self.tag = tag

    @property
    def random_state(self):  # MeanLogistic reads it; not a parameter here
        return None


class Subsampled(ref.MeanLogistic):
    """MeanLogistic fitted on a random 70% of the training subjects drawn with
    ``random_state``: truly stochastic."""

    def _fit(self, data, y):
        rng = np.random.default_rng(self.random_state)
        keep = np.sort(rng.choice(len(data), size=int(0.7 * len(data)), replace=False))
        super()._fit(data[keep], y[keep])


@pytest.fixture(scope="module")
def run():
    data = ref.tiny_cohort(45, seed=3, missing=0.2)
    test = ref.tiny_cohort(30, seed=4, prefix="T")
    est = {"subsampled": Subsampled(tag="sub"),
           "same-every-seed": ref.MeanLogistic(),  # lbfgs ignores random_state
           "no-seed": NoSeed()}
    res = run_benchmark(data, est, test=test, folds=3, repeats=1, seeds=3, robustness=False)
    return data, test, res


def test_deterministic_strategies_from_seeds_and_predictions(run):
    _, _, res = run
    seeds = {s: sorted({fr.seed for fr in res.folds if fr.kind == "test" and fr.strategy == s},
                       key=str) for s in res.strategies}
    assert seeds == {"subsampled": [0, 1, 2], "same-every-seed": [0, 1, 2], "no-seed": [None]}
    assert res.deterministic_strategies() == ["same-every-seed", "no-seed"]
    test = res.results().query("split == 'test' and metric == 'roc_auc'").set_index("strategy")
    assert test.loc["same-every-seed", "sd"] == 0.0          # what "± 0.000" came from
    assert np.isnan(test.loc["no-seed", "sd"]) and test.loc["no-seed", "n"] == 1
    assert test.loc["subsampled", "sd"] > 0


def test_metrics_table_shows_one_value_for_deterministic_strategies(run):
    _, _, res = run
    order = ["subsampled", "same-every-seed", "no-seed"]
    table = metrics_table(res.results(), "test", order,
                          deterministic=res.deterministic_strategies())
    rows = {r["strategy"]: r for r in table["rows"]}
    assert not rows["subsampled"]["deterministic"]
    assert all("±" in c["text"] for c in rows["subsampled"]["cells"])
    for s in ("same-every-seed", "no-seed"):
        assert rows[s]["deterministic"]
        assert not any("±" in c["text"] for c in rows[s]["cells"])
    assert table["n"] == 3 and table["any_deterministic"]
    # only deterministic strategies: no seed count to speak of
    alone = metrics_table(res.results(), "test", ["no-seed"], deterministic=["no-seed"])
    assert alone["n"] is None


def test_report_marks_deterministic_strategies(run, tmp_path):
    data, test, res = run
    path = write_report(tmp_path / "report.html", res, data, test=test, explain=False)
    section = BeautifulSoup(path.read_text(), "html.parser").find(id="results")
    heading = next(h for h in section.find_all("h3") if h.get_text().startswith("External"))
    assert heading.get_text(" ", strip=True) == (
        "External test set (mean ± sd over 3 seeds; deterministic strategies: their one "
        "result)")
    table = heading.find_next("table")
    text = {tr.find("td").get_text(" ", strip=True): tr.get_text(" ", strip=True)
            for tr in table.find("tbody").find_all("tr")}
    assert set(text) == {"subsampled", "same-every-seed deterministic", "no-seed deterministic"}
    assert "±" in text["subsampled"]
    assert "±" not in text["same-every-seed deterministic"]
    assert "±" not in text["no-seed deterministic"]


def test_an_sd_that_rounds_to_zero_is_not_shown_as_zero():
    results = pd.DataFrame({"strategy": ["tiny-sd", "zero-sd", "one-fit"],
                            "metric": "roc_auc", "split": "test",
                            "mean": [0.9, 0.8, 0.7], "sd": [0.0002, 0.0, np.nan],
                            "n": [5, 5, 1]})
    table = metrics_table(results, "test", ["tiny-sd", "zero-sd", "one-fit"])
    text = {r["strategy"]: r["cells"][0]["text"] for r in table["rows"]}
    assert text == {"tiny-sd": "0.900 ± <0.001", "zero-sd": "0.800 ± 0.000",
                    "one-fit": "0.700"}
