import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from medfuse.evaluate import run_benchmark
from medfuse.report import Section, register_section, write_report
from medfuse.report.html import SECTION_PROVIDERS
from tests import reference_strategies as ref

SECTIONS = ("overview", "data", "results", "comparison", "curves", "robustness", "weights",
            "settings")
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    data = ref.tiny_cohort(45, seed=3, missing=0.2)
    test = ref.tiny_cohort(24, seed=4, prefix="T")
    est = {"late-mean-ref": ref.MeanLogistic(),
           "unimodal:rna": ref.OneModality("rna"),
           "unimodal:imaging": ref.OneModality("imaging")}
    res = run_benchmark(data, est, test=test, folds=3, repeats=1, seeds=2)

    def provider(ctx):
        return Section("Interpretation", f"<p id='interp'>{len(ctx.data)} subjects</p>")

    register_section(provider)
    try:
        path = write_report(tmp_path_factory.mktemp("rep") / "report.html", res, data,
                            test=test, study={"name": "tiny <study>"}, title="tiny study")
    finally:
        SECTION_PROVIDERS.remove(provider)
    return path


def test_report_parses_and_has_every_section(report):
    soup = BeautifulSoup(report.read_text(), "html.parser")
    ids = {s.get("id") for s in soup.find_all("section")}
    assert set(SECTIONS) <= ids
    assert "interpretation" in ids and soup.find(id="interp").text == "45 subjects"
    # metrics table: three strategies, CV and test tables, mean ± sd cells
    tables = soup.find(id="results").find_all("table")
    assert len(tables) == 2
    rows = tables[0].find("tbody").find_all("tr")
    assert {r.find("td").text for r in rows} == {"late-mean-ref", "unimodal:rna",
                                                 "unimodal:imaging"}
    assert "±" in rows[0].find_all("td")[1].text
    assert soup.find(id="comparison").find("table") is not None
    # settings escaped, package versions listed
    assert "tiny <study>" in soup.find(id="settings").text
    assert "scikit-learn" in soup.find(id="settings").text


def test_report_is_self_contained(report):
    soup = BeautifulSoup(report.read_text(), "html.parser")
    images = soup.find_all("img")
    assert len(images) >= 6  # availability, comparison, ROC, calibration, robustness, weights
    for img in images:
        assert img["src"].startswith("data:image/png;base64,")
    for tag in soup.find_all(["script", "link", "iframe"]):
        assert not tag.get("src") and not tag.get("href")
    for a in soup.find_all("a"):
        assert a["href"].startswith("#")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium absent")
def test_report_renders_in_headless_chromium(report, tmp_path):
    png = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={png}", "--window-size=1400,4000", report.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    assert png.exists() and png.stat().st_size > 50_000
