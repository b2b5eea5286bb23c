"""``medfuse serve``: a saved model behind an authenticated HTTP prediction service.

FastAPI and uvicorn are an optional extra (``pip install "medfuse[serve]"``); nothing else
in medfuse imports this package, and importing it without them raises an
:class:`ImportError` that says what to install.

- :mod:`medfuse.serve.settings`: the token and the bind rules, checked before anything
  listens;
- :mod:`medfuse.serve.loading`: the model, loaded once with the checks of
  ``medfuse predict``;
- :mod:`medfuse.serve.schema`: the request and response models of one saved model (its
  modalities and feature names), from which FastAPI writes the OpenAPI document;
  :mod:`medfuse.serve.answers`: the answers whose shape is the same for every model;
- :mod:`medfuse.serve.subjects`: a validated request as :class:`~medfuse.data.MultiModalData`
  and a prediction table as JSON records;
- :mod:`medfuse.serve.problems`: validation errors as messages that name the subject,
  modality and feature;
- :mod:`medfuse.serve.security`: the bearer token, the per-token rate limit and the
  request body limit (pure ASGI middleware);
- :mod:`medfuse.serve.access`: request IDs, one log line per request (no values, no subject
  IDs) and the generic answer to an unexpected error;
- :mod:`medfuse.serve.app`: :func:`create_app`, which puts them together.

The names below are loaded on first use, so that ``medfuse serve`` refuses a missing token
or a plain-HTTP bind before it imports the prediction stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"medfuse serve needs FastAPI and uvicorn ({err.name or 'one of them'} is not "
        'installed): pip install "medfuse[serve]"') from err

__all__ = ["ServeSetupError", "check_bind", "create_app", "load_predictor", "read_token"]

if TYPE_CHECKING:
    from medfuse.serve.app import create_app
    from medfuse.serve.loading import load_predictor
    from medfuse.serve.settings import ServeSetupError, check_bind, read_token

_HOMES = {"create_app": "app", "load_predictor": "loading", "ServeSetupError": "settings",
          "check_bind": "settings", "read_token": "settings"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"medfuse.serve.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'medfuse.serve' has no attribute {name!r}")
