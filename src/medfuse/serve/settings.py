"""What must hold before the service listens: a token worth the name, and no plain HTTP
beyond this machine.

The token comes from ``--token-file`` (its content, stripped) or the ``MEDFUSE_TOKEN``
environment variable. A token file that other users may read or write is refused, as ssh
refuses such a private key: anyone who can read it can call the service, and anyone who can
write it can replace it. A short token, or one with characters a ``Authorization`` header
cannot carry, is refused too.

The service binds to the loopback interface unless TLS settings are given: a bearer token
sent in clear over a network is readable by anyone on the path. To serve other machines,
keep the default bind and let a reverse proxy (nginx, caddy) terminate TLS and forward to
it, or give uvicorn a certificate and key.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from pathlib import Path

#: the environment variable that holds the token when no ``--token-file`` is given
TOKEN_ENV = "MEDFUSE_TOKEN"
#: the fewest characters a token may have
MIN_TOKEN_CHARS = 16
#: the most bytes read from a token file
MAX_TOKEN_FILE_BYTES = 4096
#: how to make a good token, for the messages
TOKEN_RECIPE = "python -c \"import secrets; print(secrets.token_urlsafe(32))\""


class ServeSetupError(ValueError):
    """The service cannot start as asked (the message says why and what to do)."""


def read_token(token_file: str | Path | None = None,
               environ: Mapping[str, str] | None = None) -> str:
    """The bearer token clients must send: the content of ``token_file`` (stripped) or,
    without one, the ``MEDFUSE_TOKEN`` environment variable.

    Parameters
    ----------
    token_file : str or Path, optional
        A regular file holding the token, readable and writable by its owner only (on
        systems with POSIX permissions). It takes precedence over the environment.
    environ : mapping, optional
        The environment to read ``MEDFUSE_TOKEN`` from (default: ``os.environ``).

    Returns
    -------
    str
        The token: at least 16 printable ASCII characters without spaces.

    Raises
    ------
    ServeSetupError
        When there is no token, the file cannot be read or is open to other users, or the
        token is too short or holds characters a header cannot carry.
    """
    environ = os.environ if environ is None else environ
    if token_file is not None:
        token, source = _read_token_file(Path(token_file)), f"--token-file {token_file}"
    elif environ.get(TOKEN_ENV, "").strip():
        token, source = environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        raise ServeSetupError(
            f"the service needs a token: put one in a file readable only by you and pass "
            f"--token-file FILE, or set {TOKEN_ENV}; make one with {TOKEN_RECIPE}")
    if not token:
        raise ServeSetupError(f"{source} holds an empty token; make one with {TOKEN_RECIPE}")
    if not all(33 <= ord(c) <= 126 for c in token):
        raise ServeSetupError(f"{source}: the token must be printable ASCII without spaces "
                              f"(it travels in an HTTP header); make one with {TOKEN_RECIPE}")
    if len(token) < MIN_TOKEN_CHARS:
        raise ServeSetupError(f"{source}: the token has {len(token)} characters, fewer than "
                              f"{MIN_TOKEN_CHARS}; make one with {TOKEN_RECIPE}")
    return token


def _read_token_file(path: Path) -> str:
    """A token file's text, after checking that it is a regular file of its owner only."""
    try:
        info = path.stat()
    except OSError as err:
        raise ServeSetupError(f"--token-file {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ServeSetupError(f"--token-file {path} is not a regular file.")
    if os.name == "posix" and info.st_mode & 0o077:
        raise ServeSetupError(
            f"--token-file {path} may be read or written by other users (mode "
            f"{stat.filemode(info.st_mode)}); run chmod 600 {path}")
    if info.st_size > MAX_TOKEN_FILE_BYTES:
        raise ServeSetupError(f"--token-file {path} has {info.st_size:,} bytes; a token file "
                              "holds one token.")
    try:
        return path.read_bytes()[:MAX_TOKEN_FILE_BYTES].decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ServeSetupError(f"--token-file {path} cannot be read ({err}).") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface only.

    Parameters
    ----------
    host : str
        An IP address, or ``localhost``. Any other name counts as not loopback: what it
        resolves to may change.

    Returns
    -------
    bool
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, ssl_certfile: str | Path | None = None,
               ssl_keyfile: str | Path | None = None) -> bool:
    """Refuse to serve plain HTTP beyond this machine.

    Parameters
    ----------
    host : str
        The address to bind.
    ssl_certfile, ssl_keyfile : str or Path, optional
        The TLS certificate and private key (PEM) for uvicorn; both or neither.

    Returns
    -------
    bool
        Whether the service speaks TLS itself.

    Raises
    ------
    ServeSetupError
        When only one of the TLS files is given, one of them is not a readable file, or
        ``host`` is not loopback and no TLS files are given (the message says how to put
        the service behind a TLS proxy).
    """
    given = [f for f in (ssl_certfile, ssl_keyfile) if f is not None]
    if len(given) == 1:
        raise ServeSetupError("TLS needs both --ssl-certfile and --ssl-keyfile.")
    for flag, file in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if file is not None and not Path(file).is_file():
            raise ServeSetupError(f"{flag} {file} is not a file.")
    if given or is_loopback(host):
        return bool(given)
    raise ServeSetupError(
        f"--host {host} is not a loopback address, and without TLS the token and the "
        "subjects' data would cross the network in clear. Keep the default --host 127.0.0.1 "
        "and put a reverse proxy that terminates TLS in front (nginx: proxy_pass "
        "http://127.0.0.1:PORT; caddy: reverse_proxy 127.0.0.1:PORT), or give "
        "--ssl-certfile and --ssl-keyfile.")
