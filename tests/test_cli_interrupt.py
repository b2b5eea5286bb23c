"""Stopping ``medfuse benchmark`` with SIGTERM or Ctrl-C: no worker process survives, the
finished fits stay cached, and ``--resume`` continues to the same results as a run that was
never stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from medfuse.config import load_study
from medfuse.evaluate import run_benchmark
from tests import reference_strategies as ref
from tests.slow_strategies import Sleepy, Terminating
from tests.test_cli_study import write_study

REPO = Path(__file__).resolve().parents[1]
#: the process table is read from /proc (Linux)
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="reads the process table from /proc")
STOPPED = ("interrupted: {n} of {total} fits finished and cached; rerun the same command "
           "with --resume to continue")


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def _descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every living descendant of ``pid``."""
    table = _processes()
    found, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, state, started) in table.items():
            if ppid == parent and state != "Z" and (child, started) not in found:
                found.add((child, started))
                frontier.append(child)
    return found


def _alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    table = _processes()
    return {(pid, started) for pid, started in processes
            if pid in table and table[pid][2] == started and table[pid][1] != "Z"}


def _workers(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The worker processes (loky) among ``processes``."""
    found = set()
    for pid, started in processes:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"popen_loky_posix" in command:
            found.add((pid, started))
    return found


def _cached(out: Path) -> list[Path]:
    return [p for p in (out / "cache").glob("*.json") if not p.name.endswith(".failed.json")]


def _command(study: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "medfuse.cli", "benchmark", str(study), "--out", str(out),
            "--no-explain", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            "MEDFUSE_PLUGINS": "tests.slow_plugin", "COLUMNS": "200"}


def _default_sigint() -> None:
    """``preexec_fn``: the command starts with SIGINT at its default disposition. A process
    started in the background by a non-interactive shell ignores SIGINT, its children
    inherit that, and Python then leaves SIGINT ignored (so would the command)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_after(proc: subprocess.Popen, out: Path, fits: int, signal_number: int,
                group: bool = False) -> tuple[str, set, set, set]:
    """Wait for ``fits`` cached fits, note the command's processes, send the signal (to its
    process group, as a terminal's Ctrl-C does, with ``group``); returns the output, the
    command's processes and its worker processes before the signal, and the worker
    processes still alive when it ended."""
    deadline = time.monotonic() + 180
    while not (out / "cache").is_dir() or len(_cached(out)) < fits:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no fit finished"
        time.sleep(0.05)
    children = _descendants(proc.pid)
    workers = _workers(children)
    if group:
        os.killpg(proc.pid, signal_number)
    else:
        proc.send_signal(signal_number)
    output = proc.communicate(timeout=120)[0]
    return " ".join(output.split()), children, workers, _alive(workers)


def _no_survivors(children: set) -> bool:
    deadline = time.monotonic() + 60  # returns as soon as they are gone
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(children)


def _study(folder: Path, strategies: list[str], seconds: float) -> Path:
    data = ref.tiny_cohort(45, seed=5, missing=0.2)
    # a named select: no inner fits for the ensemble, so the counts are the strategies' own
    return write_study(folder, data, strategies=strategies, select="late-mean-ref",
                       params={"sleepy": {"seconds": seconds}}, robustness=False,
                       cv={"folds": 3, "repeats": 2, "seed": 0})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Fits of half a second, the slow strategy first."""
    return _study(tmp_path_factory.mktemp("interrupt") / "study", ["sleepy", "late-mean-ref"],
                  0.5)


@pytest.fixture(scope="module")
def stuck_study(tmp_path_factory):
    """Six fast fits, then six that would take five minutes each."""
    return _study(tmp_path_factory.mktemp("stuck") / "study", ["late-mean-ref", "sleepy"],
                  300)


@needs_proc
def test_sigterm_stops_the_workers_and_resume_continues(study, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_command(study, out, "--jobs", "2"), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, children, workers, workers_left = _stop_after(proc, out, 1, signal.SIGTERM)
    assert proc.returncode == 143, output
    assert len(workers) == 2 and not workers_left  # killed by the command before it exited
    found = re.search(STOPPED.format(n=r"(\d+)", total=12), output)
    assert found, output
    finished = int(found.group(1))
    # the two worker processes (and the helpers they came with) were running, and are gone
    assert len(children) >= 2
    assert _no_survivors(children)
    # what was finished is in the cache, and only that
    assert 1 <= finished < 12
    assert len(_cached(out)) == finished

    resumed = subprocess.run(_command(study, out, "--jobs", "2", "--resume"), cwd=REPO,
                             env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=300)
    text = " ".join(resumed.stdout.split())
    assert resumed.returncode == 0, text
    assert f"fitting ({finished} reused from the cache)" in text
    assert text.endswith(f"; {finished} of 12 fits reused from the cache")
    assert len(_cached(out)) == 12

    # the same numbers as a run that was never stopped (the sleep changes no number)
    train, _ = load_study(study, strategies=False).load()
    never_stopped = run_benchmark(
        train, {"sleepy": Sleepy(seconds=0.0), "late-mean-ref": ref.MeanLogistic()},
        folds=3, repeats=2, seed=0, robustness=False)
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), never_stopped.results(),
                                  check_exact=False, rtol=1e-12)


@needs_proc
def test_ctrl_c_during_a_long_fit_with_one_job_leaves_no_process(stuck_study, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_command(stuck_study, out, "--jobs", "1"), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)
    output, children, workers, left = _stop_after(proc, out, 6, signal.SIGINT, group=True)
    assert proc.returncode == 130, output
    assert STOPPED.format(n=6, total=12) in output
    assert len(_cached(out)) == 6
    assert len(workers) == 1 and not left  # killed by the command before it exited
    assert _no_survivors(children)


@needs_proc
def test_workers_exit_when_the_command_is_killed_outright(stuck_study, tmp_path):
    """SIGKILL cannot be handled: the worker processes, in the middle of five-minute fits,
    notice that their parent is gone."""
    out = tmp_path / "out"
    proc = subprocess.Popen(_command(stuck_study, out, "--jobs", "2"), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, children, workers, _ = _stop_after(proc, out, 6, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert len(workers) == 2
    assert _no_survivors(children)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers can only be set in the main thread")
def test_sigterm_during_a_fit_in_this_process_stops_the_run(tmp_path):
    from medfuse.evaluate.interrupt import BenchmarkInterrupted

    ref.FIT_COUNTS.clear()
    data = ref.tiny_cohort(40, seed=2)
    est = {"late": ref.MeanLogistic(tag="late"), "term": Terminating(at=1, tag="term")}
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(BenchmarkInterrupted) as stopped:
        run_benchmark(data, est, folds=3, repeats=1, robustness=False, out=tmp_path)
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored
    # late: 3 fits; term: the first done, SIGTERM in the second
    assert (stopped.value.finished, stopped.value.total) == (4, 6)
    assert stopped.value.exit_code == 143
    assert str(stopped.value) == "4 of 6 fits finished and cached"
    assert len(_cached(tmp_path)) == 4
