"""A worker process whose parent is already gone when its initializer runs exits at once
(the kernel's parent-death signal cannot be asked for after the parent died)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _initialise(parent: int) -> subprocess.CompletedProcess:
    code = ("import os, sys; from medfuse.evaluate.workers import _start_worker; "
            f"_start_worker({{}}, (), {parent}); print('started', os.getppid())")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_worker_whose_parent_is_gone_exits():
    not_my_parent = os.getpid() + 1_000_000  # no process has this ID as our parent
    done = _initialise(not_my_parent)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")  # exited, no error


def test_a_worker_with_its_parent_starts():
    done = _initialise(os.getpid())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["started", str(os.getpid())]
