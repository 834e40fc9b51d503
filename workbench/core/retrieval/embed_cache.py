"""An embedder that remembers every vector it computed, on disk, keyed by model and text.

`retrieval tune` and benchmarks/retrieval_quality.py index the same corpus under several
chunkings: most chunk texts recur between chunkings (every section shorter than the smallest
chunk size), and the questions recur in every configuration. Caching by sha256(model, text) makes
each distinct text cost one encode in total. The cache is one SQLite file; vectors are float32
bytes. It wraps an `Embedder` and offers the same surface ingest and search use.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


class CachedEmbedder:
    """`Embedder` look-alike (name, path, dimension, encode, encode_query) with a disk cache."""

    def __init__(self, inner: Any, cache_file: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = inner.path
        self.device = getattr(inner, "device", "cpu")
        self.dimension = inner.dimension
        self.max_seq_length = getattr(inner, "max_seq_length", 0)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(cache_file), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.path}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import numpy as np

        keys = [self._key(t) for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        found: dict[str, bytes] = {}
        with self._lock:
            for s in range(0, len(keys), 500):
                part = keys[s : s + 500]
                q = f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(part))})"
                found.update(self._db.execute(q, part).fetchall())
        todo = [i for i, k in enumerate(keys) if k not in found]
        for i, k in enumerate(keys):
            if k in found:
                out[i] = np.frombuffer(found[k], dtype=np.float32)
        if todo:
            vecs = self.inner.encode([texts[i] for i in todo], batch_size=batch_size)
            with self._lock:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vec VALUES (?, ?)",
                    [(keys[i], vecs[j].astype(np.float32).tobytes()) for j, i in enumerate(todo)],
                )
                self._db.commit()
            out[todo] = vecs
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        return out

    def missing(self, texts: list[str]) -> int:
        """How many of `texts` are not cached (what indexing them would embed)."""
        keys = [self._key(t) for t in texts]
        have: set[str] = set()
        with self._lock:
            for s in range(0, len(keys), 500):
                part = keys[s : s + 500]
                q = f"SELECT key FROM vec WHERE key IN ({','.join('?' * len(part))})"
                have.update(k for (k,) in self._db.execute(q, part).fetchall())
        return sum(1 for k in keys if k not in have)

    def put(self, texts: list[str], vecs: np.ndarray) -> int:
        """Store vectors computed elsewhere (an existing index's); returns how many."""
        import numpy as np

        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO vec VALUES (?, ?)",
                [(self._key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vecs, strict=True)],
            )
            self._db.commit()
        return len(texts)

    def encode_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.encode([text], batch_size=1)[0]
        return vector

    def close(self) -> None:
        with self._lock:
            self._db.close()
