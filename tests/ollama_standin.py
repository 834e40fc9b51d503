"""A real Ollama stand-in: an HTTP/1.1 server on loopback that speaks Ollama's wire protocol.

Why a real server and not a patched client: the failures users hit (a stream cut mid-chunk, a
clean EOF with no final chunk, a stall, a 503 before the first byte) surface as *different*
exception types depending on where in httpx/ollama-python they happen. Only real bytes on a real
socket reproduce that faithfully, so every test of Ollama behaviour goes through the official
client against this server. The wire facts it follows are read from ollama/ollama
server/routes.go and ollama-python 0.6.3 (_client.py).

Usage (see tests/fixtures_ollama.py for the pytest fixtures)::

    with OllamaStandin() as s:
        s.configure(reply=["Hel", "lo"], fail_status=503, fail_times=1)
        ...  # point a client at s.url
        assert s.requests_to("/api/chat")[0].body["model"] == "llama3.2"

Switches that count tokens ("after K") count stream chunks that carry text, thinking chunks
first, then content chunks; K == 0 means before the first chunk. Everything the server waits
on (delays, stalls) is interrupted at once by `stop()`, so a test never hangs on the stand-in.
"""

from __future__ import annotations

import hashlib
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = list[str] | str | Callable[[dict], list[str] | str]
"""Scripted text: a list of tokens, a string (split into word tokens), or a function of the
request body returning either."""

AUTO = "auto"

BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
DEFAULT_500 = "llama runner process has terminated: exit status 2"
DEFAULT_400 = "invalid request"


@dataclass
class StandinConfig:
    """Per-test behaviour of the stand-in. Change it with `OllamaStandin.configure(**fields)`."""

    models: list[str] = field(default_factory=lambda: ["llama3.2:latest", "qwen3:0.6b"])
    """Models the server knows (a name without a tag means `:latest`, as in Ollama)."""
    reply: Reply = field(default_factory=lambda: ["Hello", ",", " world", "!"])
    """The answer's content tokens (chat `message.content` / generate `response`)."""
    thinking: Reply | None = None
    """Reasoning tokens sent before the content, in `message.thinking` / `thinking`."""
    capabilities: list[str] | None = None
    """What /api/show reports; None: derived (completion, tools, thinking if `thinking`)."""
    first_byte_delay_s: float = 0.0
    """Seconds before anything is sent (queueing + model load + prompt eval in real Ollama)."""
    token_delay_s: float = 0.0
    """Seconds between text chunks."""
    fail_status: int | None = None
    """400, 404, 500 or 503: answered before the stream for chat/generate/embed."""
    fail_times: int | None = None
    """Fail only the first N inference requests after `configure` (None: every request)."""
    fail_message: str | None = None
    """Error text for `fail_status`; None: what Ollama sends for that status."""
    error_after: int | None = None
    """Send one `{"error": ...}` line after K chunks, then end the stream (K == 0: Ollama
    answers HTTP 500 instead, since nothing was written yet)."""
    error_message: str = "an error was encountered while running the model: unexpected EOF"
    stall_after: int | None = None
    """Hold the connection silent for `stall_s` seconds after K chunks, then go on."""
    stall_s: float = 0.0
    drop_after: int | None = None
    """After K chunks, send half of the next chunk and close the socket."""
    omit_final: bool = False
    """End the stream cleanly without the `done: true` chunk."""
    bad_line_after: int | None = None
    """After K chunks, send `bad_line` as a stream line (then go on)."""
    bad_line: str = "{not json"
    """A line that is not JSON, or JSON of the wrong shape such as '{"done": false}'."""
    done_reason: str = "stop"
    prompt_eval_count: int | None | str = AUTO
    """Reported prompt tokens: an int, None (field omitted), or "auto" (prompt chars / 4)."""
    eval_count: int | None | str = AUTO
    """Reported output tokens: an int, None (omitted), or "auto" (number of text chunks)."""
    total_duration_ns: int | None = 150_000_000
    load_duration_ns: int | None = 12_000_000
    prompt_eval_duration_ns: int | None = 30_000_000
    eval_duration_ns: int | None = 90_000_000
    embedding_dims: int = 8
    """Length of the vectors /api/embed returns (before `dimensions` shortens them)."""
    embedding_models: list[str] = field(default_factory=lambda: ["nomic-embed-text:latest", "all-minilm:latest"])
    """Which of `models` are embedding models (GGUF `pooling_type`): the others answer /api/embed
    with 501, as a chat model's llama-server started without `--embedding` does."""
    embed_context: int = 2048
    """An embedding model's context length in tokens (stand-in tokens are words)."""
    version: str = "0.33.0"
    """What /api/version says; below 0.5.5 a create with `from`/`adapters` is refused."""
    registry: list[str] = field(default_factory=list)
    """Models not local but pullable: a create FROM one pulls it first (download statuses)."""
    pull_error: str = "pull model manifest: file does not exist"
    """The error line a create FROM a model that is neither local nor in `registry` ends with."""
    architectures: dict[str, str] = field(default_factory=dict)
    """Model -> GGUF general.architecture for /api/show and the create check (default llama)."""
    systems: dict[str, str] = field(default_factory=dict)
    """Model -> its SYSTEM, as /api/show reports it (and a create without `system` keeps)."""


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it, updated while it is answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None  # parsed JSON, or None for an empty / non-JSON body
    raw_size: int = 0
    status: int | None = None  # HTTP status sent, None if nothing was sent
    chunks_sent: int = 0  # text chunks written to the stream
    outcome: str = "pending"  # completed | error | dropped | disconnected | stopped | pending


class _Stopping(Exception):
    """The stand-in is shutting down: abandon the request at once."""


class _ClientGone(Exception):
    """The client closed the connection while the server was waiting (Ollama cancels then)."""


def _norm(name: str) -> str:
    """Ollama's name normalisation, as far as tests need it: no tag means `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    # Ollama sends RFC 3339 with nanoseconds.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _tokens(reply: Reply | None, body: dict) -> list[str]:
    if reply is None:
        return []
    if callable(reply):
        reply = reply(body)
    if isinstance(reply, str):
        return re.findall(r"\s*\S+|\s+$", reply) or ([reply] if reply else [])
    return list(reply)


# api/types.go Options + Runner, by the Go kind FromMap switches on. Anything else is only
# logged there ("invalid option provided") and ignored: removed options such as mirostat too.
_INT_OPTIONS = {
    "num_keep",
    "seed",
    "num_predict",
    "top_k",
    "repeat_last_n",
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "num_thread",
    "draft_num_predict",
}
_FLOAT_OPTIONS = {
    "top_p",
    "min_p",
    "typical_p",
    "temperature",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
}
_BOOL_OPTIONS = {"use_mmap"}


def _options_problem(options: Any) -> str | None:
    """FromMap's error for a request's options, word for word, or None. JSON numbers are
    float64 in Go, so an int field takes 0.7 (truncated) and a float field takes 1."""
    if not isinstance(options, dict):
        return None
    for key, val in options.items():
        if val is None:
            continue
        number = isinstance(val, (int, float)) and not isinstance(val, bool)
        if key in _INT_OPTIONS and not number:
            return f'option "{key}" must be of type integer'
        if key in _FLOAT_OPTIONS and not number:
            return f'option "{key}" must be of type float32'
        if key in _BOOL_OPTIONS and not isinstance(val, bool):
            return f'option "{key}" must be of type boolean'
        if key == "stop":
            if not isinstance(val, list):
                return f'option "{key}" must be of type array'
            if not all(isinstance(v, str) for v in val):
                return f'option "{key}" must be of an array of strings'
    return None


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _details(name: str) -> dict:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "1.2B",
        "quantization_level": "Q4_K_M",
    }


def _embed_request_problem(raw: bytes, body: Any) -> str | None:
    """What Go's encoding/json says when it cannot bind `raw` to api.EmbedRequest, or None."""
    if body is None:
        try:
            json.loads(raw)
        except ValueError:
            return "invalid character looking for beginning of value"
        return None  # `null` binds to an empty request
    if not isinstance(body, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(body), "number")
        return f"json: cannot unmarshal {kind} into Go value of type api.EmbedRequest"
    want = {"model": (str, "string"), "truncate": (bool, "bool"), "dimensions": (int, "int")}
    for key, (kind, go_kind) in want.items():
        val = body.get(key)
        ok = val is None or (isinstance(val, kind) and (kind is bool or not isinstance(val, bool)))
        if key == "dimensions" and isinstance(val, float) and val.is_integer():
            ok = True
        if not ok:
            got = (
                "bool"
                if isinstance(val, bool)
                else {str: "string", list: "array", dict: "object"}.get(type(val), f"number {val}")
            )
            return f"json: cannot unmarshal {got} into Go struct field EmbedRequest.{key} of type {go_kind}"
    return None


def _embed_tokens(text: str) -> list[str]:
    """The stand-in's tokenizer: words."""
    return text.split()


def _bag_of_words(words: list[str], dims: int, salt: str) -> list[float]:
    """A deterministic stand-in for a model's embedding: the sum of one pseudo-random +-1 vector
    per lower-cased word (and a CLS-like constant, so an empty text is no zero vector), seeded
    by the word and the model's digest. Texts sharing words point the same way, so retrieval
    through it is meaningful; a re-pulled model (new digest) embeds differently, as new weights
    do; every prefix of the vector carries signal, so `dimensions` keeps a usable vector."""
    vec = [0.0] * dims
    for word in ["<cls>", *(re.sub(r"\W+", "", w.lower()) or w for w in words)]:
        bits = hashlib.shake_256(f"{salt}\0{word}".encode()).digest(dims)
        for i, b in enumerate(bits):
            vec[i] += 1.0 if b & 1 else -1.0
    return vec


def _normalize(vec: list[float]) -> list[float]:
    """server/routes.go `normalize`: scale to unit length (1e-12 floor on the norm)."""
    norm = max(sum(v * v for v in vec) ** 0.5, 1e-12)
    return [v / norm for v in vec]


class OllamaStandin:
    """The server. Start with `start()` or a `with` block; `url` is its base address."""

    def __init__(self, config: StandinConfig | None = None) -> None:
        self._lock = threading.Condition()
        self._default = config or StandinConfig()
        self.config = StandinConfig(**{f.name: getattr(self._default, f.name) for f in fields(StandinConfig)})
        self.requests: list[RecordedRequest] = []
        self.blobs: dict[str, bytes] = {}
        self.model_digests: dict[str, str] = {}  # created models: digest of their layers
        self._remade: dict[str, int] = {}  # how many times remake() gave each name new weights
        self.model_modified: dict[str, str] = {}  # re-made models: their new modified_at
        self.server_errors: list[BaseException] = []
        self._loaded: list[str] = []
        self._failures_served = 0
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OllamaStandin:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.standin = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ollama-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut every open connection, interrupt stalls, join all threads."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._conn_threads)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None

    def __enter__(self) -> OllamaStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "stand-in not started"
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the bare form OLLAMA_HOST accepts."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- per-test control --------------------------------------------------------------------

    def configure(self, **changes: Any) -> OllamaStandin:
        """Change behaviour (StandinConfig field names); restarts the `fail_times` count."""
        names = {f.name for f in fields(StandinConfig)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown stand-in settings: {sorted(unknown)}")
        with self._lock:
            for k, v in changes.items():
                setattr(self.config, k, v)
            self._failures_served = 0
        return self

    def reset(self) -> None:
        """Back to the starting config, forget requests, blobs and loaded models."""
        with self._lock:
            self.config = StandinConfig(**{f.name: getattr(self._default, f.name) for f in fields(StandinConfig)})
            self.requests.clear()
            self.blobs.clear()
            self.model_digests.clear()
            self.model_modified.clear()
            self._loaded.clear()
            self._failures_served = 0

    def remake(self, name: str) -> str:
        """Give model `name` new weights, as `ollama pull` of a changed model does: a new digest
        and modified_at in /api/tags (server/routes.go ListHandler lists the manifest's)."""
        with self._lock:
            # Deterministic (the n-th re-pull of a name): the stand-in's embeddings are seeded by
            # the digest, so a time-based one made retrieval through a re-pulled model differ per run.
            self._remade[_norm(name)] = self._remade.get(_norm(name), 0) + 1
            digest = hashlib.sha256(f"{_norm(name)}#{self._remade[_norm(name)]}".encode()).hexdigest()
            self.model_digests[_norm(name)] = digest
            self.model_modified[_norm(name)] = _now()
            if _norm(name) not in {_norm(m) for m in self.config.models}:
                self.config.models = [*self.config.models, _norm(name)]
            return digest

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, predicate: Callable[[OllamaStandin], bool], timeout: float = 5.0) -> bool:
        """Block until `predicate(self)` is true (re-checked whenever a request changes)."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self), timeout)

    # -- internals used by the handler ---------------------------------------------------------

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)
            self._lock.notify_all()

    def _update(self, rec: RecordedRequest, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(rec, k, v)
            self._lock.notify_all()

    def _take_failure(self) -> bool:
        with self._lock:
            cfg = self.config
            if cfg.fail_status is None:
                return False
            if cfg.fail_times is not None and self._failures_served >= cfg.fail_times:
                return False
            self._failures_served += 1
            return True

    def _known(self, name: str) -> bool:
        with self._lock:
            return _norm(name) in {_norm(m) for m in self.config.models}

    def _architecture(self, name: str) -> str:
        with self._lock:
            archs = {_norm(k): v for k, v in self.config.architectures.items()}
        return archs.get(_norm(name), "llama")

    def _system(self, name: str) -> str | None:
        with self._lock:
            systems = {_norm(k): v for k, v in self.config.systems.items()}
        return systems.get(_norm(name))

    def _digest_of(self, name: str) -> str:
        """The digest /api/tags lists for `name` (what `remake` changes)."""
        with self._lock:
            return self.model_digests.get(_norm(name)) or hashlib.sha256(_norm(name).encode()).hexdigest()

    def _mark_loaded(self, name: str) -> None:
        with self._lock:
            if _norm(name) not in self._loaded:
                self._loaded.append(_norm(name))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: OllamaStandin

    def process_request(self, request, client_address):  # type: ignore[override]
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="ollama-standin-conn",
            daemon=True,
        )
        with self.standin._lock:
            self.standin._conns.add(request)
            self.standin._conn_threads.add(t)
        t.start()

    def process_request_thread(self, request, client_address):  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.standin._lock:
                self.standin._conns.discard(request)
                self.standin._conn_threads.discard(threading.current_thread())

    def handle_error(self, request, client_address):  # type: ignore[override]
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, _Stopping, OSError)):
            return  # clients hanging up and shutdown are part of the job
        if exc is not None:
            self.standin.server_errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ollama-standin"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection never outlives a test run
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Go's net package turns Nagle off on every TCP connection, so Ollama's headers and body
        # go out at once; with it on, the separate body write waits for the client's delayed
        # ACK, ~40 ms per reply on loopback
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    # -- dispatch -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        s = self.server.standin
        # A blob POST reads its own body: CreateBlobHandler may answer without reading it.
        blob_post = self.command == "POST" and self.path.startswith("/api/blobs/")
        raw = b"" if blob_post else self._read_body()
        body: Any = None
        if raw and not self.path.startswith("/api/blobs/"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        rec = RecordedRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_size=len(raw),
        )
        s._record(rec)
        self._rec = rec
        route = (self.command, rec.path)
        try:
            if route in (("GET", "/"), ("HEAD", "/")):
                self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
            elif route in (("GET", "/api/version"), ("HEAD", "/api/version")):
                self._json(200, {"version": s.config.version})
            elif route in (("GET", "/api/tags"), ("HEAD", "/api/tags")):
                self._tags()
            elif route == ("POST", "/api/show"):
                self._show(body)
            elif route == ("GET", "/api/ps"):
                self._ps()
            elif route == ("POST", "/api/embed"):
                self._embed(body, raw)
            elif route == ("POST", "/api/chat"):
                self._infer(body, raw, chat=True)
            elif route == ("POST", "/api/generate"):
                self._infer(body, raw, chat=False)
            elif self.command in ("POST", "HEAD") and rec.path.startswith("/api/blobs/"):
                self._blob(rec.path[len("/api/blobs/") :], raw)
            elif route == ("POST", "/api/create"):
                self._create(body, raw)
            else:
                # gin's default for an unknown route (and for a known route with the wrong method)
                self._send(404, b"404 page not found", "text/plain")
            if rec.outcome == "pending":
                s._update(rec, outcome="completed")
        except _Stopping:
            s._update(rec, outcome="stopped")
            self.close_connection = True
        except (_ClientGone, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            s._update(rec, outcome="disconnected")
            self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # httpx sends a streamed upload (create_blob's async generator) chunked.
            parts = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _wait(self, seconds: float) -> None:
        """Wait like a busy model: stop at once on shutdown, and notice a client hanging up.

        Real Ollama cancels queued, loading and generating work when the client disconnects
        (Go's server watches the connection), so a stall here ends the same way.
        """
        s = self.server.standin
        deadline = time.monotonic() + seconds
        peek = True
        while True:
            if s._stopping.is_set():
                raise _Stopping()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not peek:
                if s._stopping.wait(left):
                    raise _Stopping()
                return
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    raise _ClientGone()
                peek = False  # the client sent more bytes; just wait out the time

    # -- low-level writers ----------------------------------------------------------------------

    def _send(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.server.standin._update(self._rec, status=status)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})
        if status >= 400:
            self.server.standin._update(self._rec, outcome="error")

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.server.standin._update(self._rec, status=200)

    @staticmethod
    def _line(obj: Any) -> bytes:
        return (json.dumps(obj, separators=(",", ":")) + "\n").encode()

    def _chunk(self, obj: Any) -> None:
        data = self._line(obj)
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self, obj: Any) -> None:
        """Announce a whole chunk, send half of it, and cut the connection."""
        data = self._line(obj)
        self.wfile.write(b"%x\r\n%s" % (len(data), data[: max(1, len(data) // 2)]))
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        self.server.standin._update(self._rec, outcome="dropped")

    # -- simple endpoints ----------------------------------------------------------------------

    def _model_entry(self, name: str) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": self.server.standin.model_modified.get(name) or "2026-08-01T12:00:00.123456789Z",
            "size": 1_321_098_329,
            "digest": self.server.standin._digest_of(name),
            "details": _details(name),
        }

    def _tags(self) -> None:
        with self.server.standin._lock:
            models = list(self.server.standin.config.models)
        self._json(200, {"models": [self._model_entry(_norm(m)) for m in models]})

    def _show(self, body: Any) -> None:
        s = self.server.standin
        name = (body or {}).get("model") or (body or {}).get("name") or ""
        if not name:
            return self._error(400, "model is required")
        if not s._known(name):
            return self._error(404, f"model '{name}' not found")
        caps = s.config.capabilities
        embeds = _norm(name) in {_norm(m) for m in s.config.embedding_models}
        if caps is None and embeds:
            caps = ["embedding"]  # what `ollama show nomic-embed-text` lists
        if caps is None:
            caps = ["completion", "tools"] + (["thinking"] if s.config.thinking else [])
        arch = s._architecture(name)
        system = s._system(name)
        modelfile = f'# Modelfile generated by "ollama show"\nFROM {_norm(name)}\n'
        shown = {
            "license": "",
            "modelfile": modelfile + (f'SYSTEM """{system}"""\n' if system else ""),
            "parameters": 'stop                           "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": _details(name),
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": 1_235_814_432,
                # the GGUF's trained context (nomic-bert.context_length 2048 for nomic-embed-text)
                f"{arch}.context_length": s.config.embed_context if embeds else 131072,
            },
            "capabilities": caps,
            "modified_at": "2026-08-01T12:00:00.123456789Z",
        }
        if system:  # api.ShowResponse: `System string json:"system,omitempty"`
            shown["system"] = system
        self._json(200, shown)

    def _ps(self) -> None:
        with self.server.standin._lock:
            loaded = list(self.server.standin._loaded)
        models = []
        for name in loaded:
            entry = self._model_entry(name)
            entry.update(
                {
                    "expires_at": "2026-08-01T12:05:00.123456789Z",
                    "size_vram": entry["size"],
                    "context_length": 4096,
                }
            )
            models.append(entry)
        self._json(200, {"models": models})

    def _check_model(self, body: Any) -> str | None:
        """The model name if the request may go on; otherwise the error is already sent."""
        s = self.server.standin
        if not isinstance(body, dict):
            self._error(400, "invalid character looking for beginning of value")
            return None
        name = body.get("model") or ""
        if not name:
            self._error(400, "model is required")
            return None
        if not s._known(name):
            self._error(404, f"model '{name}' not found")
            return None
        problem = _options_problem(body.get("options"))
        if problem:
            # api/types.go (*Options).FromMap fails; scheduleRunner returns it and
            # handleScheduleError answers 500 with the text (not 400).
            self._error(500, problem)
            return None
        if s._take_failure():
            status = s.config.fail_status or 500
            msg = s.config.fail_message
            if msg is None:
                msg = {
                    404: f"model '{name}' not found",
                    503: BUSY_MESSAGE,
                    400: DEFAULT_400,
                }.get(status, DEFAULT_500)
            self._error(status, msg)
            return None
        s._mark_loaded(name)
        return name

    def _embed(self, body: Any, raw: bytes) -> None:
        """POST /api/embed by the rules of server/routes.go `EmbedHandler` (request and reply
        types: api/types.go `EmbedRequest` / `EmbedResponse`), in its order: body, model name,
        input, model lookup, scheduling (load), empty input, then each text.

        Never streamed: the client sends no `stream` key here and reads one JSON object."""
        s = self.server.standin
        started = time.monotonic_ns()
        if not raw:  # `errors.Is(err, io.EOF)` from ShouldBindJSON
            return self._error(400, "missing request body")
        problem = _embed_request_problem(raw, body)
        if problem:  # any other ShouldBindJSON error: 400 with Go's encoding/json text
            return self._error(400, problem)
        model = body.get("model") or ""
        # parseAndValidateModelRef: modelref.ParseRef fails on a blank name (ErrModelRequired),
        # which writeModelRefParseError answers with its fallback, a 404
        if not model.strip():
            return self._error(404, f"model '{model}' not found")
        # `switch i := req.Input.(type)`: a string (empty: no input), a list of strings, or absent
        inputs = body.get("input")
        if isinstance(inputs, str):
            texts = [inputs] if inputs else []
        elif isinstance(inputs, list) and all(isinstance(t, str) for t in inputs):
            texts = list(inputs)
        elif inputs is None:
            texts = []
        else:
            return self._error(400, "invalid input type")
        # getModel fails with os.ErrNotExist; handleScheduleError words it with %q
        if not s._known(model):
            return self._error(404, f'model "{model}" not found, try pulling it first')
        # scheduleRunner: options are parsed (FromMap; a type error is a 500 from
        # handleScheduleError), the switches stand for a busy queue or a failed load
        problem = _options_problem(body.get("options"))
        if problem:
            return self._error(500, problem)
        if s._take_failure():
            status = s.config.fail_status or 500
            default = {503: BUSY_MESSAGE, 400: DEFAULT_400}.get(status, DEFAULT_500)
            return self._error(status, s.config.fail_message or default)
        self._wait(s.config.first_byte_delay_s)  # the model loads
        s._mark_loaded(model)
        loaded = time.monotonic_ns()
        if not texts:  # `len(input) == 0`: answered after the load, durations zero (omitted)
            return self._json(200, {"model": model, "embeddings": []})
        with s._lock:
            embeds = {_norm(m) for m in s.config.embedding_models}
            dims, context = s.config.embedding_dims, s.config.embed_context
        if _norm(model) not in embeds:
            # a chat model's llama-server runs without `--embedding` and answers /v1/embeddings
            # with 501; llm/llama_server.go `Embedding` passes status and message through
            # (normalizeEmbeddingError) and EmbedHandler sends them as they are
            return self._error(501, "This server does not support embeddings. Start it with `--embeddings`")
        # inputTokensAndContext: the model's context, lowered by options.num_ctx; adjustTokenLimit
        # leaves room for BOS and EOS (the stand-in's tokens never are either)
        num_ctx = (body.get("options") or {}).get("num_ctx")
        if isinstance(num_ctx, (int, float)) and num_ctx > 0:
            context = min(int(num_ctx), context)
        limit = context - 2
        truncate = body.get("truncate")
        vectors, counted = [], 0
        for text in texts:
            if limit <= 0:
                return self._error(400, "input after truncation exceeds maximum context length")
            words = _embed_tokens(text)
            if len(words) > limit:
                if truncate is False:  # embedWithRetry: `req.Truncate != nil && !*req.Truncate`
                    return self._error(400, "the input length exceeds the context length")
                words = words[:limit]  # truncateInput: Detokenize(tokens[:ctxLen])
            counted += len(words) + 2
            vector = _normalize(_bag_of_words(words, dims, s._digest_of(model)))
            dimensions = body.get("dimensions") or 0
            if 0 < dimensions < len(vector):  # `req.Dimensions`: cut, then normalised again
                vector = _normalize(vector[:dimensions])
            vectors.append(vector)
        self._json(
            200,
            {
                "model": model,  # `Model: req.Model`, as the request spelled it
                "embeddings": vectors,
                "total_duration": time.monotonic_ns() - started,
                "load_duration": max(1, loaded - started),
                "prompt_eval_count": counted,
            },
        )

    # -- chat / generate ---------------------------------------------------------------------

    def _infer(self, body: Any, raw: bytes, *, chat: bool) -> None:
        s = self.server.standin
        name = self._check_model(body)
        if name is None:
            return
        with s._lock:
            cfg = StandinConfig(**{f.name: getattr(s.config, f.name) for f in fields(StandinConfig)})
        streaming = body.get("stream", True) is not False

        if chat:
            messages = body.get("messages") or []
            prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
            is_load = not messages
        else:
            prompt = body.get("prompt") or ""
            prompt_chars = len(prompt) + len(body.get("system") or "")
            is_load = not prompt

        base = {"model": body["model"], "created_at": _now()}

        def piece(kind: str, text: str) -> dict:
            if chat:
                msg = {"role": "assistant", "content": text if kind == "content" else ""}
                if kind == "thinking":
                    msg["thinking"] = text
                return {**base, "message": msg, "done": False}
            out = {**base, "response": text if kind == "content" else "", "done": False}
            if kind == "thinking":
                out["thinking"] = text
            return out

        if is_load:
            # An empty request only loads the model (preload), answering done_reason "load".
            self._wait(cfg.first_byte_delay_s)
            final = {**base, "message": {"role": "assistant", "content": ""}} if chat else {**base, "response": ""}
            final.update({"done": True, "done_reason": "load"})
            if streaming:
                self._start_stream()
                self._chunk(final)
                self._end_stream()
            else:
                self._json(200, final)
            return

        thinking = _tokens(cfg.thinking, body)
        content = _tokens(cfg.reply, body)
        # server/routes.go ChatHandler: `think: true` to a model without the "thinking"
        # capability is a 400; since 0.12.4 a thinking model thinks unless told `think: false`
        # (commit 90d429f5a); before, without `think`, the template did not split the
        # reasoning, so it arrived as raw <think>…</think> in the content (and servers before
        # 0.9.0 did not know `think` at all).
        think = body.get("think")
        can_think = "thinking" in (cfg.capabilities or (["thinking"] if cfg.thinking else []))
        version = tuple(int(x) for x in re.findall(r"\d+", cfg.version)[:3])
        if think is True and not can_think and version >= (0, 9, 0):
            return self._error(400, f'"{body["model"]}" does not support thinking')
        if thinking:
            if version < (0, 9, 0) or (think is None and version < (0, 12, 4)):
                content = ["<think>", *thinking, "</think>\n\n", *content]
                thinking = []
            elif think is False:
                thinking = []
        pieces = [("thinking", t) for t in thinking] + [("content", t) for t in content]

        final: dict = dict(base)
        if chat:
            final["message"] = {"role": "assistant", "content": ""}
        else:
            final["response"] = ""
        final.update({"done": True, "done_reason": cfg.done_reason})
        metrics = {
            "total_duration": cfg.total_duration_ns,
            "load_duration": cfg.load_duration_ns,
            "prompt_eval_count": (
                max(1, prompt_chars // 4) if cfg.prompt_eval_count == AUTO else cfg.prompt_eval_count
            ),
            "prompt_eval_duration": cfg.prompt_eval_duration_ns,
            "eval_count": len(pieces) if cfg.eval_count == AUTO else cfg.eval_count,
            "eval_duration": cfg.eval_duration_ns,
        }
        # Ollama omits zero metrics; None here means "omit" too.
        final.update({k: v for k, v in metrics.items() if v})
        if not chat:
            final["context"] = [128006, 882, 128007, 271]

        self._wait(cfg.first_byte_delay_s)
        if not streaming:
            return self._infer_whole(cfg, pieces, final, chat)

        started = False
        for k in range(len(pieces) + 1):
            last = k == len(pieces)
            if k == cfg.error_after:
                if not started:
                    # Nothing written yet: Ollama answers with a real status.
                    return self._error(500, cfg.error_message)
                self._chunk({"error": cfg.error_message})
                self._end_stream()
                s._update(self._rec, outcome="error")
                return
            if k == cfg.stall_after:
                self._wait(cfg.stall_s)
            if k == cfg.bad_line_after:
                if not started:
                    self._start_stream()
                    started = True
                data = cfg.bad_line.encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            if k > 0 and not last:
                self._wait(cfg.token_delay_s)
            if last and cfg.omit_final:
                if not started:
                    self._start_stream()
                    started = True
                self._end_stream()
                return
            obj = final if last else piece(*pieces[k])
            if not started:
                self._start_stream()
                started = True
            if k == cfg.drop_after:
                return self._drop(obj)
            self._chunk(obj)
            if not last:
                s._update(self._rec, chunks_sent=k + 1)
        self._end_stream()

    def _infer_whole(self, cfg: StandinConfig, pieces: list, final: dict, chat: bool) -> None:
        """stream=false: one object shaped like the final chunk, holding the whole text."""
        s = self.server.standin
        if cfg.error_after is not None:
            return self._error(500, cfg.error_message)
        if cfg.stall_after is not None:
            self._wait(cfg.stall_s)
        self._wait(cfg.token_delay_s * max(0, len(pieces) - 1))
        if cfg.drop_after is not None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            s._update(self._rec, outcome="dropped")
            return
        text = "".join(t for kind, t in pieces if kind == "content")
        thought = "".join(t for kind, t in pieces if kind == "thinking")
        if chat:
            final["message"] = {"role": "assistant", "content": text}
            if thought:
                final["message"]["thinking"] = thought
        else:
            final["response"] = text
            if thought:
                final["thinking"] = thought
        self._json(200, final)

    # -- blobs and create --------------------------------------------------------------------

    def _blob(self, digest: str, raw: bytes) -> None:
        s = self.server.standin
        if not re.fullmatch(r"sha256[:-][0-9a-f]{64}", digest):
            if self.command == "POST":
                self._skip_body()
            return self._error(400, "invalid digest format")
        digest = digest.replace("-", ":", 1)
        with s._lock:
            exists = digest in s.blobs
        if self.command == "HEAD":
            # server/routes.go HeadBlobHandler: 200 if the blob file exists, else 404.
            if exists:
                return self._send(200, b"", "text/plain")
            return self._error(404, f'blob "{digest}" not found')
        if exists:
            # server/routes.go CreateBlobHandler: an existing blob is answered 200 at once,
            # WITHOUT reading the body. Go's net/http (server.go, maxPostHandlerReadBytes)
            # then drains at most 256 KiB of the unread body; beyond that it sends
            # "Connection: close" and closes, so a client still sending a large file fails.
            return self._early_reply()
        raw = self._read_body()
        got = _digest(raw)
        if got != digest:
            return self._error(400, f'digest mismatch, expected "{digest}", got "{got}"')
        with s._lock:
            s.blobs[digest] = raw
        self._send(201, b"", "text/plain")

    def _skip_body(self) -> None:
        self._read_body()

    def _early_reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        if not chunked and length <= 256 << 10:
            self._read_body()  # Go drains a small unread body and keeps the connection
            return self._send(200, b"", "text/plain")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        self.server.standin._update(self._rec, status=200, outcome="closed early")
        self.close_connection = True
        try:
            # Unread bytes in the receive buffer make the close a reset, as on a real server.
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _create(self, body: Any, raw: bytes) -> None:
        s = self.server.standin
        if not isinstance(body, dict):
            return self._error(400, "invalid character looking for beginning of value")
        if body.get("from") or body.get("adapters"):
            # v0.5.4 server/routes.go CreateHandler knew only `path`/`modelfile`; the
            # from/files/adapters request of server/create.go CreateHandler came in v0.5.5.
            v = re.match(r"v?(\d+)\.(\d+)\.(\d+)", s.config.version)
            if v and (0, 0, 0) < tuple(int(x) for x in v.groups()) < (0, 5, 5):
                return self._error(400, "path or Modelfile are required")
        name = body.get("model") or ""
        if not name:
            return self._error(400, "model is required")
        base = body.get("from")
        referenced = {**(body.get("files") or {}), **(body.get("adapters") or {})}
        with s._lock:
            missing = [d for d in referenced.values() if d not in s.blobs]
            registry = {_norm(m) for m in s.config.registry}
        if missing:
            path = "/root/.ollama/models/blobs/" + missing[0].replace(":", "-")
            return self._error(500, f"open {path}: no such file or directory")
        streaming = body.get("stream", True) is not False
        sent: list[dict] = []

        def say(line: dict) -> None:
            # CreateHandler streams each progress line; with stream=false only the last one.
            sent.append(line)
            if streaming:
                if len(sent) == 1:
                    self._start_stream()
                self._chunk(line)

        def fail(message: str) -> None:
            # An error after the stream began is one {"error": ...} line (status stays 200).
            if streaming and sent:
                self._chunk({"error": message})
                self._end_stream()
                s._update(self._rec, outcome="error")
            else:
                self._error(500, message)

        if base and not s._known(base):
            # server/model.go parseFromModel: a `from` model with no local manifest is pulled
            # (server/images.go PullModel: "pulling manifest", per-layer "pulling <digest[7:19]>"
            # with total/completed, "verifying sha256 digest", "writing manifest", "success").
            say({"status": "pulling manifest"})
            if _norm(base) not in registry:
                return fail(s.config.pull_error)
            layer = hashlib.sha256(f"weights of {_norm(base)}".encode()).hexdigest()
            total = 270_898_656
            for done in (0, total // 3, 2 * total // 3, total):
                say({"status": f"pulling {layer[:12]}", "digest": f"sha256:{layer}", "total": total, "completed": done})
            for status in ("verifying sha256 digest", "writing manifest", "success"):
                say({"status": status})
            with s._lock:
                s.config.models = [*s.config.models, _norm(base)]
        if base:
            say({"status": f"using existing layer sha256:{hashlib.sha256(base.encode()).hexdigest()}"})
        adapters = body.get("adapters") or {}
        if adapters:
            if any(f.endswith(".safetensors") for f in adapters):
                # convert/convert.go ConvertAdapter: only llama and gemma2 bases convert.
                if base and s._architecture(base) not in ("llama", "gemma2"):
                    return fail("unsupported architecture")
                say({"status": "converting adapter"})
            for digest in adapters.values():
                say({"status": f"creating new layer {digest}"})
        # server/create.go createModel: TEMPLATE/SYSTEM replace the base's only when non-empty
        # (`if r.System != ""`), so an empty system keeps the base's SYSTEM.
        system = body.get("system") or (s._system(base) if base else None)
        layers = [
            base or "",
            *sorted(referenced.values()),
            body.get("template") or "",
            system or "",
            json.dumps(body.get("parameters") or {}, sort_keys=True),
        ]
        with s._lock:
            if _norm(name) not in {_norm(m) for m in s.config.models}:
                s.config.models = [*s.config.models, _norm(name)]
            s.config.systems = {
                **{k: v for k, v in s.config.systems.items() if _norm(k) != _norm(name)},
                **({_norm(name): system} if system else {}),
            }
            # The manifest digest follows the layers: a re-create from other blobs is a new model.
            s.model_digests[_norm(name)] = hashlib.sha256("\n".join(layers).encode()).hexdigest()
            s.model_modified[_norm(name)] = _now()
        say({"status": "writing manifest"})
        say({"status": "success"})
        if not streaming:
            return self._json(200, {"status": "success"})
        self._end_stream()


def closed_port_url() -> str:
    """An http:// address on loopback where nothing listens (bound, then released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    finally:
        sock.close()
    return f"http://127.0.0.1:{port}"
