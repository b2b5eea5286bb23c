"""What ``medfuse serve`` refuses before it listens (exit 2, one ``error:`` line): no token,
a token file open to others, a short token, plain HTTP beyond loopback, half a TLS setting,
and a model folder that fails the allowlist (its payload never runs). Without FastAPI,
``import medfuse.serve`` says what to install."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from medfuse.fusion import make
from medfuse.persist import save_model
from medfuse.serve import ServeSetupError, check_bind, read_token
from medfuse.serve.settings import is_loopback
from tests.security.crafting import code_writing, numpy_exec_chain
from tests.serve.conftest import (
    AUTH,
    REPO,
    TOKEN,
    env,
    free_port,
    listening,
    run_cli,
    subject_json,
    token_file,
)


def _line(result) -> str:
    return " ".join(result.stdout.split())


def test_token_rules(tmp_path):
    assert read_token(token_file(tmp_path), environ={}) == TOKEN
    assert read_token(environ={"MEDFUSE_TOKEN": f"  {TOKEN}\n"}) == TOKEN
    with pytest.raises(ServeSetupError, match="the service needs a token"):
        read_token(environ={"MEDFUSE_TOKEN": "  "})
    with pytest.raises(ServeSetupError, match="chmod 600"):
        read_token(token_file(tmp_path, mode=0o644), environ={})
    with pytest.raises(ServeSetupError, match="empty token"):
        read_token(token_file(tmp_path, token=" \n"), environ={})
    with pytest.raises(ServeSetupError, match="has 5 characters, fewer than 16"):
        read_token(environ={"MEDFUSE_TOKEN": "short"})
    with pytest.raises(ServeSetupError, match="printable ASCII without spaces"):
        read_token(environ={"MEDFUSE_TOKEN": "a token with spaces in it"})
    with pytest.raises(ServeSetupError, match="No such file"):
        read_token(tmp_path / "absent", environ={})


def test_bind_rules(tmp_path):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host) and check_bind(host) is False
    for host in ("0.0.0.0", "::", "10.0.0.5", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ServeSetupError, match="reverse proxy that terminates TLS"):
            check_bind(host)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    assert check_bind("0.0.0.0", cert, key) is True
    with pytest.raises(ServeSetupError, match="both --ssl-certfile and --ssl-keyfile"):
        check_bind("127.0.0.1", cert, None)


def test_no_token_and_plain_http_beyond_loopback_end_the_command(model_dir, tmp_path):
    port = free_port()
    result = run_cli(str(model_dir), "--port", str(port))
    assert result.returncode == 2 and _line(result).startswith("error: the service needs a token")
    result = run_cli(str(model_dir), "--host", "0.0.0.0", "--port", str(port),
                     "--token-file", str(token_file(tmp_path)))
    assert result.returncode == 2
    assert "error: --host 0.0.0.0 is not a loopback address" in _line(result)
    assert "proxy_pass http://127.0.0.1:PORT" in _line(result)
    assert not listening(port)


def test_a_model_folder_that_fails_the_allowlist_is_refused_before_listening(cohort, tmp_path):
    sentinel = tmp_path / "ran"
    model = copy.deepcopy(make("late-mean", cv=2).fit(cohort[:36]))
    model.payload_ = numpy_exec_chain(code_writing(sentinel))
    folder = save_model(model, tmp_path / "evil")
    port = free_port()
    result = run_cli(str(folder), "--port", str(port), MEDFUSE_TOKEN=TOKEN)
    assert result.returncode == 2
    line = _line(result)
    assert line.startswith("error:") and "is refused; nothing in it was loaded" in line
    assert "numpy.testing._private.utils.runstring" in line
    assert not sentinel.exists() and not listening(port)


def test_importing_the_service_without_fastapi_says_what_to_install():
    code = "import sys; sys.modules['fastapi'] = None; import medfuse.serve"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert result.returncode == 1
    assert 'ImportError: medfuse serve needs FastAPI and uvicorn (fastapi is not installed): ' \
           'pip install "medfuse[serve]"' in result.stdout



def test_a_worker_builds_the_service_from_its_environment(model_dir, cohort, monkeypatch):
    """``--workers N``: each worker process calls the factory with the settings the command
    checked; here in process (starting worker processes costs seconds)."""
    import asyncio
    import warnings

    import httpx

    from medfuse.serve.access import LOGGER
    from medfuse.serve.workers import app_from_environment, worker_environment

    for name, value in worker_environment(TOKEN, model_dir, max_body_bytes=100,
                                          rate_limit=5).items():
        monkeypatch.setenv(name, value)
    # the worker sets up its process's logging and warnings: undone after the test
    monkeypatch.setattr(LOGGER, "handlers", list(LOGGER.handlers))
    for attribute in ("propagate", "level"):
        monkeypatch.setattr(LOGGER, attribute, getattr(LOGGER, attribute))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    application = app_from_environment()
    body = {"subjects": [subject_json(cohort, cohort.subjects[40])]}

    async def calls():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as c:
            return [(await c.post("/predict", json=body, headers=AUTH)).status_code,
                    (await c.post("/predict", content=b"{}", headers=AUTH)).status_code]

    assert asyncio.run(calls()) == [413, 422]  # the worker's own body limit
