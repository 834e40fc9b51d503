"""What `retrieve`, `retrieval eval` and `retrieval status` do, apart from their flags and text:
a search that refuses an unknown --gold first, an eval scored, stored and compared with the one
before, the index's state, and the warnings about an index that no longer matches its settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError


def checked_retrieve(
    project: Any, settings: Any, query: str, *, mode: str | None, k: int | None, path_glob: str | None, gold: list[str]
) -> tuple[Any, int | None]:
    """retrieve(), refusing first a --gold that names no indexed document: a typo'd --gold would
    read as a bad ranking (`dense #>50`)."""
    from workbench.core.retrieval.service import open_index, retrieve
    from workbench.core.retrieval.whynot import unknown_gold

    if gold:
        index = open_index(project, settings)
        problem = next(filter(None, (unknown_gold(g, index) for g in gold)), None)
        if problem:
            raise WorkbenchError(f"--gold {problem}", field="--gold")
    return retrieve(project, settings, query, mode=mode, k=k, path_glob=path_glob, gold=gold)


def index_warnings(project: Any, settings: Any) -> list[str]:
    """The index was chunked with other settings, or an ingest did not finish."""
    from workbench.core.retrieval.index import Index, chunking_drift
    from workbench.core.retrieval.service import incomplete_note, project_index

    drift = chunking_drift(Index.read_meta(project_index(project, settings)), settings)
    note = incomplete_note(project)
    return [w for w in (f"{drift}: run `workbench ingest`" if drift else None, note) if w]


@dataclass
class StoredEval:
    ev: Any  # the RetrievalEval just scored
    eval_id: int
    comparison: Any | None  # against --against or the set's previous eval

    @property
    def deltas(self) -> Any:
        return self.comparison.deltas if self.comparison else None

    @property
    def before_id(self) -> int | None:
        return self.comparison.before_id if self.comparison else None


def eval_and_store(
    project: Any, evalset_arg: str | None, *, k: int | None, modes: tuple[str, ...], against: str | None
) -> StoredEval:
    """Score retrieval on the set's `relevant:` labels for each mode, store it, compare it."""
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.lookup import resolve_evalset_path
    from workbench.core.retrieval.compare import compare_evals, load_eval
    from workbench.core.retrieval.embedder import get_embedder
    from workbench.core.retrieval.evaluate import evaluate
    from workbench.core.retrieval.service import open_index
    from workbench.core.retrieval.traces import get_eval, previous_eval, record_eval

    settings = project.config.retrieval
    base = load_eval(project.store, against) if against else None  # a bad id fails first
    path = resolve_evalset_path(project, evalset_arg)
    evalset = load_evalset(path)
    if not any(c.relevant for c in evalset.cases):
        raise WorkbenchError(
            "no case in this eval set has `relevant:` labels, so retrieval cannot be scored", path=path
        )
    index = open_index(project, settings)
    embedder = get_embedder(settings.embedding_model, project.root)
    ev = evaluate(
        evalset.cases,
        index,
        settings,
        k=k,
        modes=modes,
        embedder=embedder,
        evalset_name=evalset.name,
        evalset_path=str(path),
        evalset_hash=evalset.content_hash,
    )
    base = base or previous_eval(project.store, evalset.name)
    eval_id = record_eval(project.store, ev)
    current = get_eval(project.store, eval_id)
    assert current is not None  # recorded just above
    return StoredEval(ev, eval_id, compare_evals(base, current) if base else None)


def index_status(project: Any) -> tuple[dict[str, Any], str | None]:
    """The index's manifest with its row count, and the problem that makes it unusable (or None)."""
    from workbench.core.retrieval.index import IndexUnavailable
    from workbench.core.retrieval.service import open_index

    settings = project.config.retrieval
    meta: dict[str, Any] = {}
    try:
        index = open_index(project, settings)  # a model that cannot load is named first
        meta = dict(index.meta)
        meta["table_rows"] = index.count()
        index.verify()  # opening reads the manifest only: damaged data files show here
    except IndexUnavailable as exc:
        return meta, exc.reason
    except WorkbenchError as exc:  # the configured embedding model's file:line problem
        return meta, str(exc)
    return meta, None
