"""The service's gates, as pure ASGI middleware that answers before the application runs:

- :class:`TokenGate`: every path but ``/health`` needs ``Authorization: Bearer <token>``
  (compared in constant time); a missing or wrong token is answered 401 before the body is
  read. Each token has its own bucket of requests per minute (429 with ``Retry-After`` when
  empty), and failed attempts from one client address share a small bucket, so that
  guessing is slow.
- :class:`BodyLimit`: a body longer than the limit is answered 413, whether it announces
  its length (``Content-Length``) or streams in chunks without one: bytes are counted as
  they arrive, and the application only ever sees a complete body within the limit.

After an early answer, the rest of a small body is read and dropped, so that the client
reads the answer instead of a reset connection; a body longer than that is cut off.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from medfuse.serve.subjects import dumps

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: paths answered without a token
OPEN_PATHS = frozenset({"/health"})
#: failed authentications a client address may make per minute
AUTH_FAILURES_PER_MINUTE = 30
#: after an early answer, read and drop at most this many more body bytes
DRAIN_BYTES = 4 << 20


def request_id(scope: Scope) -> str | None:
    """The ID :class:`~medfuse.serve.access.AccessLog` gave the request, if any.

    Parameters
    ----------
    scope : dict
        The ASGI scope.

    Returns
    -------
    str or None
    """
    return (scope.get("state") or {}).get("request_id")


async def answer(scope: Scope, send: Send, status: int, detail: str,
                 headers: dict[str, str] | None = None) -> None:
    """Send a JSON error answer (``detail`` and the request ID) from middleware.

    Parameters
    ----------
    scope : dict
        The ASGI scope.
    send : callable
        The ASGI send.
    status : int
        The HTTP status.
    detail : str
        What went wrong.
    headers : dict, optional
        More response headers.
    """
    body = dumps({"detail": detail, "request_id": request_id(scope), "errors": []})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def drain(receive: Receive, limit: int = DRAIN_BYTES) -> None:
    """Read and drop what is left of a request body, up to ``limit`` bytes.

    Parameters
    ----------
    receive : callable
        The ASGI receive.
    limit : int
        The most bytes to read.
    """
    total = 0
    while total <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class RateLimiter:
    """Token buckets of ``per_minute`` requests per key, refilled continuously, that allow
    a burst of ``per_minute``.

    Parameters
    ----------
    per_minute : float
        Requests per minute and per key; 0 turns the limit off.
    max_keys : int
        Buckets kept (the least recently used are dropped).
    clock : callable
        Seconds, monotonic.
    """

    def __init__(self, per_minute: float, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = float(per_minute)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one request from ``key``'s bucket.

        Parameters
        ----------
        key : str
            Whose bucket.

        Returns
        -------
        float
            0 when the request may go ahead, else the seconds until it may.
        """
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:
            now = self.clock()
            level, stamp = self._buckets.pop(key, (self.per_minute, now))
            level = min(self.per_minute, level + (now - stamp) * rate)
            wait = 0.0 if level >= 1 else (1 - level) / rate
            self._buckets[key] = (level - 1 if wait == 0 else level, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


class TokenGate:
    """Require the bearer token (constant-time comparison) and apply the rate limits.

    Parameters
    ----------
    app : ASGI application
        What to protect.
    token : str
        The token clients send as ``Authorization: Bearer <token>``.
    rate_limit : float
        Requests per minute for the token (0: no limit).
    auth_failures_per_minute : float
        Failed attempts per minute and client address before they are answered 429.
    """

    def __init__(self, app: ASGIApp, token: str, rate_limit: float,
                 auth_failures_per_minute: float = AUTH_FAILURES_PER_MINUTE) -> None:
        self.app = app
        self._expected = b"Bearer " + token.encode("ascii")
        # buckets are keyed by a digest of the token, so the token is not kept twice
        self._key = hashlib.sha256(self._expected).hexdigest()[:16]
        self.limit = RateLimiter(rate_limit)
        self.failures = RateLimiter(auth_failures_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        sent = _header(scope, b"authorization") or b""
        if not hmac.compare_digest(sent, self._expected):
            client = (scope.get("client") or ("?", 0))[0]
            wait = self.failures.take(str(client))
            if wait:
                await answer(scope, send, 429, "too many failed authentications; wait",
                             {"Retry-After": str(math.ceil(wait))})
            else:
                await answer(scope, send, 401, "missing or wrong token: send Authorization: "
                             "Bearer <token>", {"WWW-Authenticate": 'Bearer realm="medfuse"'})
            await drain(receive)
            return
        wait = self.limit.take(self._key)
        if wait:
            await answer(scope, send, 429, f"rate limit of {self.limit.per_minute:g} requests "
                         "per minute reached; retry after the time in Retry-After",
                         {"Retry-After": str(math.ceil(wait))})
            await drain(receive)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Answer 413 to a request body longer than ``max_bytes``, counted as it streams (so
    also for chunked bodies without ``Content-Length``); the application receives the
    whole body at once.

    Parameters
    ----------
    app : ASGI application
        What to protect.
    max_bytes : int
        The longest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send,
                         left: int = 0) -> None:
        await answer(scope, send, 413, f"the request body is longer than the service's limit "
                     f"of {self.max_bytes:,} bytes; send fewer subjects per request")
        if left <= DRAIN_BYTES:  # else the connection is closed with the body unread
            await drain(receive)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = 0  # the server refuses a malformed length itself
            if length > self.max_bytes:
                await self._too_large(scope, receive, send, length)
                return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
