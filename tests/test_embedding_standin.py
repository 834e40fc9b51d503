"""The stand-in's POST /api/embed answers raw HTTP the way Ollama's EmbedHandler does
(server/routes.go; shapes from api/types.go EmbedRequest / EmbedResponse): status codes, error
texts and JSON fields, byte for byte where clients match on them."""

from __future__ import annotations

import http.client
import json
import math


def _post(standin, body: bytes | str | dict | list | None) -> tuple[int, str, dict]:
    data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=5)
    try:
        conn.request("POST", "/api/embed", body=data, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        raw = reply.read()
        return reply.status, reply.getheader("Content-Type") or "", json.loads(raw)
    finally:
        conn.close()


def test_embed_answers_like_the_real_handler(ollama_standin):
    s = ollama_standin
    s.configure(models=["llama3.2", "nomic-embed-text"], embedding_dims=16, embed_context=8)

    # a list of strings: one unit vector each, and the EmbedResponse fields
    status, ctype, reply = _post(s, {"model": "nomic-embed-text", "input": ["cats sleep", "dogs walk"]})
    assert status == 200 and ctype == "application/json; charset=utf-8"
    assert set(reply) == {"model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"}
    assert reply["model"] == "nomic-embed-text"  # as the request spelled it, not "…:latest"
    assert len(reply["embeddings"]) == 2 and all(len(v) == 16 for v in reply["embeddings"])
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in reply["embeddings"])
    assert reply["prompt_eval_count"] == 8 and reply["total_duration"] >= reply["load_duration"] > 0
    # a string is one input, and the same text embeds the same
    status, _, one = _post(s, {"model": "nomic-embed-text", "input": "cats sleep"})
    assert status == 200 and one["embeddings"] == reply["embeddings"][:1]
    # `dimensions` cuts and normalises again
    status, _, cut = _post(s, {"model": "nomic-embed-text", "input": "cats sleep", "dimensions": 4})
    assert len(cut["embeddings"][0]) == 4 and math.isclose(sum(x * x for x in cut["embeddings"][0]), 1.0)

    # empty input (absent, "", []): 200 after the load, no vectors, zero durations omitted
    for body in ({"model": "nomic-embed-text"}, {"model": "nomic-embed-text", "input": ""}):
        assert _post(s, body)[::2] == (200, {"model": "nomic-embed-text", "embeddings": []})
    # ... even for a chat model, which only fails once there is text to embed
    assert _post(s, {"model": "llama3.2", "input": []})[::2] == (200, {"model": "llama3.2", "embeddings": []})
    not_embedding = "This server does not support embeddings. Start it with `--embeddings`"
    assert _post(s, {"model": "llama3.2", "input": "hi"})[::2] == (501, {"error": not_embedding})

    # too long: truncated by default (and with truncate true), refused with truncate false
    long = " ".join(f"w{i}" for i in range(20))  # 20 tokens; the context leaves 6
    status, _, cut = _post(s, {"model": "nomic-embed-text", "input": long})
    assert status == 200 and cut["prompt_eval_count"] == 8
    short = " ".join(f"w{i}" for i in range(6))
    assert cut["embeddings"] == _post(s, {"model": "nomic-embed-text", "input": short})[2]["embeddings"]
    refused = {"error": "the input length exceeds the context length"}
    assert _post(s, {"model": "nomic-embed-text", "input": [short, long], "truncate": False})[::2] == (400, refused)
    assert _post(s, {"model": "nomic-embed-text", "input": short, "truncate": False})[0] == 200
    small = {"model": "nomic-embed-text", "input": "x", "options": {"num_ctx": 2}}
    assert _post(s, small)[::2] == (400, {"error": "input after truncation exceeds maximum context length"})

    # request errors, in the handler's order
    assert _post(s, None)[::2] == (400, {"error": "missing request body"})
    assert _post(s, b"{nope")[0] == 400
    assert _post(s, {"model": "nomic-embed-text", "input": ["a", 3]})[::2] == (400, {"error": "invalid input type"})
    assert _post(s, {"model": "nomic-embed-text", "input": 3})[::2] == (400, {"error": "invalid input type"})
    status, _, reply = _post(s, {"model": "nomic-embed-text", "input": "a", "truncate": "no"})
    assert status == 400 and reply["error"].startswith("json: cannot unmarshal string into Go struct field")
    assert _post(s, {"model": "", "input": "a"})[::2] == (404, {"error": "model '' not found"})
    missing = {"error": 'model "nope" not found, try pulling it first'}
    assert _post(s, {"model": "nope", "input": "a"})[::2] == (404, missing)
    typed = {"model": "nomic-embed-text", "input": "a", "options": {"temperature": "hot"}}
    assert _post(s, typed)[::2] == (500, {"error": 'option "temperature" must be of type float32'})
    s.configure(fail_status=503, fail_times=1)
    busy = {"error": "server busy, please try again.  maximum pending requests exceeded"}
    assert _post(s, {"model": "nomic-embed-text", "input": "a"})[::2] == (503, busy)
    assert _post(s, {"model": "nomic-embed-text", "input": "a"})[0] == 200


def test_embed_vectors_rank_shared_words_first_and_follow_the_digest(ollama_standin):
    s = ollama_standin
    s.configure(models=["nomic-embed-text"], embedding_dims=256)

    def vec(text: str) -> list[float]:
        return _post(s, {"model": "nomic-embed-text", "input": text})[2]["embeddings"][0]

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    query = vec("how long do cats sleep")
    docs = {d: vec(d) for d in ("Cats sleep sixteen hours.", "Dogs need walks.", "Knead the dough.")}
    assert max(docs, key=lambda d: cos(query, docs[d])) == "Cats sleep sixteen hours."
    # a re-pull (new digest in /api/tags) embeds the same text differently
    s.remake("nomic-embed-text")
    assert cos(vec("how long do cats sleep"), query) < 0.9
