"""The report's interpretation section provider."""

from __future__ import annotations

from bs4 import BeautifulSoup

from medfuse.explain.report_section import CAVEAT
from medfuse.fusion import make
from medfuse.report.html import SECTION_PROVIDERS, ReportContext
from medfuse.report.interpretation import interpretation_section


class _Result:
    best = "additive"


def test_provider_is_registered_and_explains_the_model(split):
    train, test = split
    assert interpretation_section in SECTION_PROVIDERS
    assert interpretation_section(ReportContext(result=_Result(), data=train)) is None
    model = make("additive", random_state=0).fit(train)
    section = interpretation_section(ReportContext(result=_Result(), data=train, test=test,
                                                   model=model))
    assert section.title == "Interpretation" and section.id == "interpretation"
    page = BeautifulSoup(section.html, "html.parser")
    text = page.get_text(" ")
    assert CAVEAT in text and "explained on the test subjects" in text
    assert "additive" in page.find("code").get_text()
    first_row = page.find("table").find_all("tr")[1]
    assert first_row.find("td").get_text() == "rna"


def test_report_has_one_interpretation_section_unless_turned_off(split, tmp_path):
    from medfuse.study import run_study

    train, test = split
    outputs = run_study(train, test, tmp_path / "on", strategies=["additive"], folds=2,
                        repeats=1, seeds=1, robustness=False)
    page = BeautifulSoup(outputs.report.read_text(), "html.parser")
    assert len(page.find_all(id="interpretation")) == 1
    off = run_study(train, test, tmp_path / "off", strategies=["additive"], folds=2,
                    repeats=1, seeds=1, robustness=False, explain=False)
    page = BeautifulSoup(off.report.read_text(), "html.parser")
    assert page.find(id="interpretation") is None
