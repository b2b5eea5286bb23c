"""``medfuse serve``: a thin layer over :mod:`medfuse.serve` that checks the token, the bind
address and the model folder before anything listens, then runs uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import console, fail

#: the exceptions of a model folder, a trust name or a setting that end the command (exit 2)
_REFUSED = (ValueError, FileNotFoundError, OSError)


def serve(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by benchmark.")],
    host: Annotated[str, typer.Option(
        help="Address to bind. Loopback unless --ssl-certfile/--ssl-keyfile are given: "
             "to serve other machines, put a TLS proxy in front.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8000,
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", help="A file (mode 600) holding the token clients send as "
                             "Authorization: Bearer <token>; default: the MEDFUSE_TOKEN "
                             "environment variable.")] = None,
    trust: Annotated[list[str] | None, typer.Option(
        help="Also load this class of your own, given by its exact fully qualified name "
             "(as medfuse predict --trust); repeatable.")] = None,
    unseen_batch: Annotated[str | None, typer.Option(
        "--unseen-batch", metavar="POLICY",
        help="What a harmonized model does with subjects of a batch it was not fitted on: "
             "error, reference or fit-new (as medfuse predict).")] = None,
    max_body_bytes: Annotated[int, typer.Option(
        "--max-body-bytes", min=1, help="Longest request body accepted (bytes); longer ones "
                                        "are answered 413.")] = 1 << 20,
    rate_limit: Annotated[float, typer.Option(
        "--rate-limit", min=0, help="Requests per minute for the token (0: no limit); more "
                                    "are answered 429.")] = 600,
    ssl_certfile: Annotated[Path | None, typer.Option(
        "--ssl-certfile", help="TLS certificate (PEM) for uvicorn.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        "--ssl-keyfile", help="TLS private key (PEM) for uvicorn.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Worker processes, each with its own copy of the model and its own "
                    "rate-limit buckets (one process predicts on one core at a time).")] = 1,
) -> None:
    """Serve a saved model over HTTP: POST /predict and /explain, GET /model and /health."""
    try:
        from medfuse.serve.settings import check_bind, read_token
    except ImportError as err:
        fail(err)
    try:
        # the token and the bind first: refused before the prediction stack is imported
        token = read_token(token_file)
        tls = check_bind(host, ssl_certfile, ssl_keyfile)
        from medfuse.serve import create_app, load_predictor

        predictor = load_predictor(model_dir, trust or ())
        if unseen_batch is not None:
            try:
                if not predictor.set_unseen_batch(unseen_batch):
                    console.print("[yellow]warning:[/yellow] --unseen-batch has no effect: "
                                  "the model harmonizes nothing")
            except ValueError as err:
                fail(f"--unseen-batch: {err}")
        app = create_app(predictor, token, max_body_bytes=max_body_bytes,
                         rate_limit=rate_limit)
    except _REFUSED as err:
        fail(err)
    scheme = "https" if tls else "http"
    console.print(f"serving {predictor.strategy} on {scheme}://{host}:{port}"
                  + (f" with {workers} workers" if workers > 1 else "") + " (Ctrl-C stops)")
    options = {"host": host, "port": port, "access_log": False, "server_header": False,
               "ssl_certfile": str(ssl_certfile) if tls else None,
               "ssl_keyfile": str(ssl_keyfile) if tls else None}
    if workers > 1:
        del app, predictor  # checked here; each worker loads its own copy
        _run_workers(workers, options, token, model_dir, trust, unseen_batch, max_body_bytes,
                     rate_limit)
    else:
        _run(app, options)


def _run(app, options: dict) -> None:
    """Run uvicorn in this process, without its access log (see :mod:`medfuse.serve.access`
    for what is logged instead)."""
    import uvicorn

    from medfuse.serve.access import log_to_stderr, quiet_warnings

    log_to_stderr()
    quiet_warnings()
    uvicorn.Server(uvicorn.Config(app, **options)).run()


def _run_workers(workers: int, options: dict, token: str, model_dir: Path, trust,
                 unseen_batch, max_body_bytes: int, rate_limit: float) -> None:
    """Run ``workers`` uvicorn worker processes, each building the service from the
    settings this process checked (:mod:`medfuse.serve.workers`)."""
    import os

    import uvicorn

    from medfuse.serve.workers import worker_environment

    os.environ.update(worker_environment(token, model_dir, trust or (), unseen_batch,
                                         max_body_bytes, rate_limit))
    uvicorn.run("medfuse.serve.workers:app_from_environment", factory=True, workers=workers,
                **options)
