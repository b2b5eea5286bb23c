"""``medfuse benchmark --cluster local`` and ``--scheduler ADDRESS``: the same tables as a
run without a cluster, stopping with SIGTERM leaves no process and ``--resume`` continues,
and a cluster that cannot be used ends the command with a clear message (exit 2)."""

from __future__ import annotations

import re
import signal
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.config import load_study
from medfuse.evaluate import run_benchmark
from tests import reference_strategies as ref
from tests.slow_strategies import Sleepy, registered
from tests.test_cli_interrupt import (
    REPO,
    STOPPED,
    _cached,
    _command,
    _env,
    _no_survivors,
    _stop_after,
    _study,
    needs_proc,
)

pytest.importorskip("distributed")


def _text(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return _study(tmp_path_factory.mktemp("cluster") / "study", ["sleepy", "late-mean-ref"],
                  0.5)


@needs_proc
def test_sigterm_on_a_local_cluster_leaves_no_process_and_resume_continues(study, tmp_path):
    out = tmp_path / "out"
    command = _command(study, out, "--cluster", "local", "--jobs", "2")
    proc = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output, children, _, _ = _stop_after(proc, out, 1, signal.SIGTERM)
    assert proc.returncode == 143, output
    found = re.search(STOPPED.format(n=r"(\d+)", total=12), output)
    assert found, output
    finished = int(found.group(1))
    assert 1 <= finished < 12 and len(_cached(out)) == finished
    assert len(children) >= 2  # the cluster's nanny and worker processes
    assert _no_survivors(children)

    resumed = subprocess.run([*command, "--resume"], cwd=REPO, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=300)
    text = " ".join(resumed.stdout.split())
    assert resumed.returncode == 0, text
    assert text.endswith(f"; {finished} of 12 fits reused from the cache")
    train, _ = load_study(study, strategies=False).load()
    serial = run_benchmark(
        train, {"sleepy": Sleepy(seconds=0.0), "late-mean-ref": ref.MeanLogistic()},
        folds=3, repeats=2, seed=0, robustness=False)
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), serial.results(),
                                  check_exact=False, rtol=1e-12)


def test_a_scheduler_that_cannot_be_reached_exits_2(study, tmp_path):
    with registered():
        result = CliRunner().invoke(app, ["benchmark", str(study), "--out", str(tmp_path),
                                          "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert "error: The Dask scheduler at tcp://127.0.0.1:9 cannot be reached" in text
    assert "--cluster local" in text and "Traceback" not in text


@pytest.mark.parametrize(("flags", "message"), [
    (["--cluster", "remote"], "--cluster 'remote': the only cluster medfuse starts is 'local'"),
    (["--cluster", "local", "--scheduler", "tcp://h:8786"], "--scheduler and --cluster: give one"),
    (["--scheduler", "h:8786"], "--scheduler 'h:8786': give the scheduler's address with its "
                                "protocol"),
])
def test_wrong_cluster_flags_exit_2(study, tmp_path, flags, message):
    result = CliRunner().invoke(app, ["benchmark", str(study), "--out", str(tmp_path), *flags])
    assert result.exit_code == 2 and _text(result).startswith(f"error: {message}"), result.output
