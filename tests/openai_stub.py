"""A tiny scripted OpenAI-compatible server on loopback, for the failures a real server will not
produce on demand (429 with Retry-After, 401/403, a vLLM-style context-length 400, a cut stream).
The happy path is tested against a real server (`transformers serve`) in test_openai_provider.py.

Each request takes the next `Reply` from `replies` (the last one repeats); a reply either fails
with a status and JSON body, or streams `data:` events (the finish chunk carries usage, as
`transformers serve` sends it) and can cut the socket after K chunks.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON error body for status != 200
    headers: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=lambda: ["Hel", "lo"])
    finish: str | None = "stop"  # None: end the stream without a finish_reason
    drop_after: int | None = None  # cut the connection after K content chunks
    error_after: int | None = None  # send `data: {"error": ...}` after K chunks


class OpenAIStub:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [Reply()]
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def next_reply(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._send_json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        stub: OpenAIStub = self.server.stub  # type: ignore[attr-defined]
        reply = stub.next_reply({"path": self.path, "headers": dict(self.headers), "body": body})
        if reply.status != 200:
            self._send_json(reply.status, reply.body or {"error": {"message": "failed"}}, reply.headers)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")  # as uvicorn streams
        self.end_headers()
        model = body.get("model", "")
        for i, token in enumerate(reply.tokens):
            if reply.drop_after == i:
                self._chunk(b'data: {"choices": [{"delta": {"cont')
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.error_after == i:
                self._event({"error": "the model runner crashed"})
                self.wfile.write(b"0\r\n\r\n")
                return
            self._event({"model": model, "choices": [{"index": 0, "delta": {"content": token}}]})
        if reply.finish:
            self._event(
                {
                    "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish}],
                    "usage": {
                        "prompt_tokens": 7,
                        "completion_tokens": len(reply.tokens),
                        "total_tokens": 7 + len(reply.tokens),
                    },
                }
            )
            self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _event(self, obj: Any) -> None:
        self._chunk(f"data: {json.dumps(obj)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
