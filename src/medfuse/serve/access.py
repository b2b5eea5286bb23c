"""One log line per request, and the generic answer to an unexpected error.

Policy: the log carries the request ID, method, route, status, duration and number of
subjects of each request, never a feature value, a subject ID, a token or an exception
message (an exception names its type only: its message may quote input). Paths that are no
route of the service are logged as ``-`` (a URL is the client's text). Warnings raised while
predicting are logged by category and place, without their text (:func:`quiet_warnings`).

Every answer carries an ``X-Request-ID`` header; an unexpected error is answered 500 with a
generic message and that ID, never a traceback, so that the log line can be found.
"""

from __future__ import annotations

import logging
import secrets
import time
import warnings
from pathlib import Path

from medfuse.serve.security import ASGIApp, Message, Receive, Scope, Send, answer

#: the logger of the service
LOGGER = logging.getLogger("medfuse.serve")


def log_to_stderr(logger: logging.Logger = LOGGER) -> None:
    """Send the access log to stderr, one line per request with its time (for the whole
    process; the service calls it once at start).

    Parameters
    ----------
    logger : logging.Logger
        The access logger.
    """
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def quiet_warnings(logger: logging.Logger = LOGGER) -> None:
    """Log warnings by category and place only: a warning's text may quote subject IDs or
    values (for the whole process; the service calls it once at start).

    Parameters
    ----------
    logger : logging.Logger
        Where the warnings go.
    """

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        logger.warning("warning category=%s at=%s:%s (text withheld)", category.__name__,
                       Path(filename).name, lineno)

    warnings.showwarning = show


class AccessLog:
    """Give each request an ID (``X-Request-ID``), log it when answered, and answer 500
    (generic message and the ID, nothing of the error) to anything that escapes the
    application.

    Parameters
    ----------
    app : ASGI application
        The service.
    routes : iterable of str
        The paths logged as they are; any other path is logged as ``-``.
    logger : logging.Logger, optional
        Where the lines go (default: ``medfuse.serve``).
    """

    def __init__(self, app: ASGIApp, routes, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.routes = frozenset(routes)
        self.logger = logger or LOGGER

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        rid = secrets.token_hex(8)
        state["request_id"] = rid
        status, started = [0], time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = dict(message)
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        error = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as err:  # nothing of it reaches the client or the log but its type
            error = type(err).__name__
            if not status[0]:
                await answer(scope, send_with_id, 500, "internal error; quote the request ID "
                             "to the service's operator")
        path = scope.get("path", "")
        self.logger.info(
            "request_id=%s method=%s path=%s status=%s ms=%.1f subjects=%s%s", rid,
            scope.get("method", "-"), path if path in self.routes else "-", status[0] or "-",
            1000 * (time.perf_counter() - started), state.get("n_subjects", "-"),
            f" error={error}" if error else "")
