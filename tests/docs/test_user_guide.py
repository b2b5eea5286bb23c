"""The examples of the documentation pages run and print what the pages say they print."""

from __future__ import annotations

import doctest
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted([DOCS / "index.rst", *(DOCS / "user_guide").glob("*.rst")])
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _medfuse_own(value) -> bool:
    """Whether a registry entry comes from medfuse itself (not from another test)."""
    target = getattr(value, "target", value)
    if isinstance(target, str):
        return target.startswith("medfuse.")
    module = getattr(target, "__module__", None) or type(target).__module__
    return module.startswith("medfuse.")


@pytest.fixture
def clean_registries():
    """The pages run against medfuse's own registries (other tests register kinds and
    strategies of their own in the same process), and the pages' example kinds,
    strategies, representations and encoders are removed afterwards."""
    from medfuse.data.kinds import registry as kinds
    from medfuse.fusion import registry as strategies
    from medfuse.fusion.neural import encoders, objectives
    from medfuse.preprocess import registry as transforms
    from medfuse.report import html
    from medfuse.represent import registry as representations

    registries = [kinds._KINDS, strategies._REGISTRY, representations._REPRESENTATIONS,
                  encoders._ENCODERS, objectives._TERMS, transforms._TRANSFORMS]
    saved = [dict(registry) for registry in registries]
    providers = list(html.SECTION_PROVIDERS)
    for registry, content in zip(registries, saved, strict=True):
        registry.clear()
        registry.update({k: v for k, v in content.items() if _medfuse_own(v)})
    html.SECTION_PROVIDERS[:] = [p for p in providers if _medfuse_own(p)]
    yield
    for registry, content in zip(registries, saved, strict=True):
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
