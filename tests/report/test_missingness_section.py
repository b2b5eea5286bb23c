"""The report's missingness section (medfuse.report.missingness)."""

from bs4 import BeautifulSoup

from medfuse.data.simulate import make_cohort
from medfuse.evaluate import run_benchmark
from medfuse.evaluate.missingness import outcome_by_pattern
from medfuse.fusion import make
from medfuse.report import render_report


def _report(data, settings=None):
    result = run_benchmark(data, {"late-mean": make("late-mean")}, folds=3, repeats=1,
                           robustness=False, settings=settings or {})
    return BeautifulSoup(render_report(result, data, explain=False), "html.parser")


def test_the_section_reads_the_mechanism_and_tabulates_the_outcome():
    data = make_cohort(200, missing={"imaging": 0.35}, n_genes=30, missing_mechanism="MAR",
                       random_state=0)
    soup = _report(data, {"impute": {"methods": {"imaging": "knn"}, "n_imputations": 3}})
    section = soup.find(id="missingness")
    text = " ".join(section.get_text(" ").split())
    assert "Little's test rejects MCAR" in text
    assert "imaging missing for" in text and "predictable from what is observed" in text
    assert "imaging: knn; 3 imputations, predictions pooled" in text
    table, _ = outcome_by_pattern(data)
    cells = [[td.get_text() for td in tr.find_all("td")] for tr in section.find_all("tr")[1:]]
    assert [c[0] for c in cells] == list(table.index)
    assert [int(c[1]) for c in cells] == table["subjects"].tolist()
    assert [c[3] for c in cells] == [f"{v:.2f}" for v in table["rate:1"]]


def test_no_section_when_nothing_is_missing():
    soup = _report(make_cohort(90, n_genes=30, random_state=0))
    assert soup.find(id="missingness") is None
