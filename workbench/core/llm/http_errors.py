"""httpx failures -> ProviderError, worded once for the HTTP providers (ollama.py, openai_compat.py).

Each provider names the server its own way (`Ollama at http://…`, or the base_url) and maps
its own replies (statuses, error bodies); what a refused, timed-out or cut connection means is
the same for both, and so is its kind, which decides whether a retry is safe.
"""

from __future__ import annotations

from workbench.core.llm.base import ProviderError

REFUSED = "connection refused"  # the reason `unreachable` gives when nothing listens on the port


def causes(exc: BaseException) -> list[BaseException]:
    """exc and everything chained under it (httpx wraps httpcore wraps anyio wraps the OSError,
    and ollama-python re-raises `from None`, which hides but keeps `__context__`)."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is seen for seen in out):
            continue
        out.append(e)
        todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
    return out


def connect_reason(exc: BaseException) -> str:
    """A few words on why a connection failed, from the OS error at the bottom of the chain."""
    import errno
    import socket

    for e in causes(exc):
        if isinstance(e, ConnectionRefusedError):
            return REFUSED
        if isinstance(e, socket.gaierror):
            return "host name not found"
        if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "host unreachable"
        if isinstance(e, TimeoutError):
            return "connect timed out"
    text = str(exc).lower()
    if "refused" in text:
        return REFUSED
    if "name or service not known" in text or "nodename" in text or "name resolution" in text:
        return "host name not found"
    return str(exc) or type(exc).__name__


def unreachable(exc: BaseException, server: str, after_output: bool = False) -> ProviderError:
    """`<server> is not reachable (connection refused)`: retryable, nothing was sent."""
    return ProviderError(
        "connect", f"{server} is not reachable ({connect_reason(exc)})", retryable=True, after_output=after_output
    )


def dropped(exc: BaseException, server: str, after_output: bool) -> ProviderError:
    """A connection cut before or during the answer; after output began, the output is incomplete."""
    if after_output:
        msg = f"the connection to {server} dropped mid-stream: output is incomplete"
    else:
        msg = f"the connection to {server} closed before an answer"
    return ProviderError("dropped", f"{msg} ({exc})", retryable=True, after_output=after_output)


def transport_error(
    exc: BaseException,
    *,
    server: str,
    url_name: str,
    after_output: bool,
    connect_timeout_s: float | None = None,
) -> ProviderError | None:
    """The httpx failures every HTTP provider meets, or None for any other exception.

    `server` names the server in a sentence (`Ollama at http://…`), `url_name` the setting that
    holds its URL (`base_url http://…`). A read timeout with a wording of the caller's own must
    be mapped before this is asked; here it is one more timeout."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        secs = f" within {connect_timeout_s:g} s" if connect_timeout_s else " in time"
        return ProviderError(
            "timeout", f"could not connect to {server}{secs}", retryable=True, after_output=after_output
        )
    if isinstance(exc, httpx.ConnectError):
        return unreachable(exc, server, after_output)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ProviderError("connect", f"{url_name} is not an http(s) URL ({exc})", after_output=after_output)
    if isinstance(exc, httpx.TimeoutException):  # read, write and pool timeouts
        return ProviderError(
            "timeout",
            f"timed out talking to {server} ({type(exc).__name__})",
            retryable=True,
            after_output=after_output,
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return dropped(exc, server, after_output)
    return None
