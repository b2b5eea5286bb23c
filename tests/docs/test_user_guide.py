"""The examples of the documentation pages run and print what the pages say they print."""

from __future__ import annotations

import doctest
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted([DOCS / "index.rst", *(DOCS / "user_guide").glob("*.rst")])
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.fixture
def clean_registries():
    """Pages register example kinds, strategies, representations and encoders; put every
    registry back as it was so that other tests see only medfuse's own."""
    from medfuse.data.kinds import registry as kinds
    from medfuse.fusion import registry as strategies
    from medfuse.report import html
    from medfuse.represent import registry as representations

    saved = [(kinds._KINDS, dict(kinds._KINDS)),
             (strategies._REGISTRY, dict(strategies._REGISTRY)),
             (representations._REPRESENTATIONS, dict(representations._REPRESENTATIONS))]
    providers = list(html.SECTION_PROVIDERS)
    encoders = None
    try:
        from medfuse.fusion.neural import encoders as encoder_module

        encoders = (encoder_module._ENCODERS, dict(encoder_module._ENCODERS))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    yield
    for registry, content in [*saved, *([encoders] if encoders else [])]:
        registry.clear()
        registry.update(content)
    html.SECTION_PROVIDERS[:] = providers


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples(page, clean_registries):
    text = page.read_text()
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    if not test.examples:
        pytest.skip("no examples on this page")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
