"""A tiny saved model, and the real service started on it as a subprocess on a free
loopback port (``python -m medfuse.cli serve``), stopped when the module is done."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.persist import save_model

REPO = Path(__file__).resolve().parents[2]
TOKEN = "serve-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def env(**more: str) -> dict[str, str]:
    """The environment of a service subprocess: this checkout first on the path, no
    inherited token, no test plugins (the models are built-in strategies; importing the
    plugins costs a second), one BLAS thread, a wide console (one-line messages)."""
    out = {k: v for k, v in os.environ.items() if k not in ("MEDFUSE_TOKEN", "MEDFUSE_PLUGINS")}
    out.update({"PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
                "COLUMNS": "400", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1"})
    out.update(more)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def token_file(folder: Path, token: str = TOKEN, mode: int = 0o600) -> Path:
    file = folder / "token"
    file.write_text(token + "\n")
    file.chmod(mode)
    return file


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "medfuse.cli", "serve", *args]


def run_cli(*args: str, timeout: float = 120, **more_env: str) -> subprocess.CompletedProcess:
    """``medfuse serve ...`` expected to end by itself (refused before it listens)."""
    return subprocess.run(command(*args), cwd=REPO, env=env(**more_env), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


class Service:
    """A running ``medfuse serve``: its URL, process and stderr file."""

    def __init__(self, model_dir: Path, folder: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"server-{self.port}.log"
        args = [str(model_dir), "--port", str(self.port), "--token-file",
                str(token_file(folder)), *options]
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(command(*args), cwd=REPO, env=env(),
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service ended: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the service did not answer: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=30)


@pytest.fixture(scope="session")
def cohort():
    return make_cohort(48, n_genes=5, n_imaging=4, random_state=0)


@pytest.fixture(scope="session")
def model_dir(cohort, tmp_path_factory) -> Path:
    """``late-mean`` fitted on the first 36 subjects of a tiny cohort (rna counts, imaging
    continuous, clinical with text and missing cells)."""
    model = make("late-mean", cv=2).fit(cohort[:36])
    return save_model(model, tmp_path_factory.mktemp("serve") / "model", strategy="late-mean")


def subject_json(data, subject: str) -> dict:
    """One subject of ``data`` as the service takes it: the modalities it has, every
    feature, missing cells as null."""
    modalities = {}
    for m in data.modality_names:
        if data.available.loc[subject, m]:
            row = data.block(m).loc[subject]
            modalities[m] = {str(k): _plain(v) for k, v in row.items()}
    return {"id": str(subject), "modalities": modalities}


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
