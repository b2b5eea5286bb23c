"""Help screens show value types for options that take a value and none for flags."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from medfuse.cli import app as medfuse_app
from medfuse.cli._flag_help import FlagHelpGroup

runner = CliRunner()


def _app(cls) -> typer.Typer:
    app = typer.Typer(cls=cls, add_completion=False)

    @app.callback()
    def main(version: Annotated[bool, typer.Option("--version", help="Version.")] = False
             ) -> None:
        """A test application."""

    @app.command()
    def run(jobs: Annotated[int, typer.Option(help="Workers.")] = 1,
            resume: Annotated[bool, typer.Option("--resume", help="Resume.")] = False,
            robust: Annotated[bool, typer.Option(help="Robust.")] = True,
            verbose: Annotated[int, typer.Option("-v", count=True, help="Louder.")] = 0,
            ) -> None:
        """Run it."""
        print(f"jobs={jobs} resume={resume} robust={robust} verbose={verbose}")

    return app


def test_plain_typer_group_tags_flags_as_bool():
    # what FlagHelpGroup exists for (if typer stops doing this, the class can go)
    out = runner.invoke(_app(None), ["run", "--help"]).output
    if "<bool>" not in out:
        pytest.skip("this typer version shows no type next to flags")
    assert "<int>" in out


def test_flag_help_group_shows_types_of_values_only():
    app = _app(FlagHelpGroup)
    top = runner.invoke(app, ["--help"])
    sub = runner.invoke(app, ["run", "--help"])
    assert top.exit_code == 0 and sub.exit_code == 0
    for out in (top.output, sub.output):
        assert "<bool>" not in out and "--help" in out
    assert "--version" in top.output
    assert "--resume" in sub.output and "--no-robust" in sub.output
    assert sub.output.count("<int>") == 1  # --jobs takes a value; -v counts
    ran = runner.invoke(app, ["run", "--jobs", "3", "--resume", "--no-robust", "-vv"])
    assert ran.exit_code == 0
    assert ran.output.strip() == "jobs=3 resume=True robust=False verbose=2"


def test_medfuse_cli_with_flag_help_group(monkeypatch):
    """The real command line with ``cls=FlagHelpGroup`` (the one-line change it needs)."""
    monkeypatch.setattr(medfuse_app.info, "cls", FlagHelpGroup)
    top = runner.invoke(medfuse_app, ["--help"])
    bench = runner.invoke(medfuse_app, ["benchmark", "--help"])
    assert top.exit_code == 0 and bench.exit_code == 0
    assert "<bool>" not in top.output and "--version" in top.output
    assert "<bool>" not in bench.output and "--resume" in bench.output
    assert "<int>" in bench.output and "<path>" in bench.output
