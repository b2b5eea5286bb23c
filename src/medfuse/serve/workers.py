"""Several worker processes (``medfuse serve --workers N``).

One Python process predicts on one core at a time; uvicorn can run several, each accepting
connections on the same socket. A worker is a new process: it reads its settings and the
token from its environment (set by the command for it alone, readable by its user only),
loads the model itself with the same checks, and keeps its own rate-limit buckets (so a
token may make up to N times ``--rate-limit`` requests per minute in all).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: the environment variable that hands the settings to the workers
SETTINGS_ENV = "MEDFUSE_SERVE_SETTINGS"


def worker_environment(token: str, model_dir: str | Path, trust=(), unseen_batch=None,
                       max_body_bytes: int | None = None, rate_limit: float | None = None
                       ) -> dict[str, str]:
    """The environment variables that let :func:`app_from_environment` build the service.

    Parameters
    ----------
    token : str
        The bearer token (checked already).
    model_dir : str or Path
        The model folder (checked already; each worker checks it again when it loads it).
    trust : iterable of str
        As :func:`~medfuse.serve.load_predictor`.
    unseen_batch : str, optional
        As :func:`~medfuse.serve.load_predictor`.
    max_body_bytes, rate_limit : optional
        As :func:`~medfuse.serve.create_app` (None: its defaults).

    Returns
    -------
    dict of str to str
    """
    settings = {"model_dir": str(Path(model_dir).resolve()), "trust": list(trust or ()),
                "unseen_batch": unseen_batch, "max_body_bytes": max_body_bytes,
                "rate_limit": rate_limit}
    return {SETTINGS_ENV: json.dumps(settings), "MEDFUSE_TOKEN": token}


def app_from_environment():
    """The service of one worker, built from :func:`worker_environment`'s variables (the
    factory uvicorn calls in each worker process).

    Returns
    -------
    FastAPI
    """
    from medfuse.serve.access import log_to_stderr, quiet_warnings
    from medfuse.serve.app import create_app
    from medfuse.serve.loading import load_predictor
    from medfuse.serve.settings import read_token

    settings = json.loads(os.environ[SETTINGS_ENV])
    token = read_token(environ=os.environ)
    log_to_stderr()
    quiet_warnings()
    predictor = load_predictor(settings["model_dir"], settings["trust"],
                               settings["unseen_batch"])
    limits = {k: settings[k] for k in ("max_body_bytes", "rate_limit")
              if settings[k] is not None}
    return create_app(predictor, token, **limits)
