"""`retrieval tune` on a project, shared by the CLI and the Retrieval tab's tune screen: prepare
the run (eval set, embedding cache seeded from the project index, grid, re-index cost), write a
winner into workbench.yaml as line edits (comments kept; the old text is put back if the new one
does not load) and score the applied settings as a stored `retrieval eval`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

# chunks/s for all-MiniLM-L6-v2 on 2 shared CPU cores: `workbench ingest` of the sample measured
# 18.5-22 chunks/s, and a tune of it embedded 1,038 texts in 56 s (40 promised half of that time)
EMBED_RATE = 20.0


@dataclass
class TunePlan:
    """Everything `run_tune` needs, and the cost to say before it starts."""

    evalset: Any
    evalset_path: Path
    grid: list[Any]
    paths: list[Path]
    tune_dir: Path
    cache: Any  # CachedEmbedder; close() it when done
    n_chunkings: int
    n_cases: int
    todo: int  # chunk texts the cache lacks
    total: int

    @property
    def seconds(self) -> float:
        return self.todo / EMBED_RATE

    def run(self, project: Any, **kwargs: Any) -> Any:
        from workbench.core.retrieval.tune import run_tune

        s = project.config.retrieval
        return run_tune(
            self.evalset.cases,
            s,
            self.grid,
            paths=self.paths,
            bases=self.paths,
            tune_dir=self.tune_dir,
            embedder=self.cache,
            **kwargs,
        )


def plan_tune(project: Any, evalset: str | None) -> TunePlan:
    """Resolve the eval set (refused without `relevant:` labels) and count the embedding cost."""
    import dataclasses

    from workbench.core.evals.evalset import load_evalset
    from workbench.core.evals.lookup import resolve_evalset_path
    from workbench.core.retrieval.index import IndexUnavailable
    from workbench.core.retrieval.service import corpus_paths, missing_corpus, open_index
    from workbench.core.retrieval.tune import case_question, chunkings, default_grid, embed_cost, seed_cache

    settings = project.config.retrieval
    problem = missing_corpus(project, settings)  # the workbench.yaml line, before any cost is counted
    if problem is not None:
        raise problem
    path = resolve_evalset_path(project, evalset)
    es = load_evalset(path)
    n_cases = sum(1 for c in es.cases if c.relevant)
    if not n_cases:
        raise WorkbenchError("no case in this eval set has `relevant:` labels, so retrieval cannot be tuned", path=path)
    cache = tune_embedder(project)
    try:
        seed_cache(cache, open_index(project, settings))
    except IndexUnavailable:
        pass  # no project index yet: everything is embedded here
    grid = default_grid(settings)
    paths = corpus_paths(project, settings)
    chunk_settings = [
        dataclasses.replace(settings, chunk_tokens=ct, overlap_tokens=ov, heading_context=hc)
        for ct, ov, hc in chunkings(grid)
    ]
    questions = [case_question(c) for c in es.cases if c.relevant]
    todo, total = embed_cost(paths, paths, chunk_settings, cache, questions)
    return TunePlan(es, Path(path), grid, paths, _tune_dir(project), cache, len(chunk_settings), n_cases, todo, total)


def record_tune_run(project: Any, plan: TunePlan, res: Any) -> int:
    """Store the sweep in the project's runs.db (`rtN`, listed by `workbench runs`), finished or
    stopped early: the table outlives the terminal it was printed in."""
    from workbench.core.retrieval.traces import record_tune

    return record_tune(
        project.store,
        res,
        evalset=plan.evalset.name,
        evalset_hash=plan.evalset.content_hash,
        settings=project.config.retrieval.to_dict(),
    )


def tune_embedder(project: Any) -> Any:
    """The configured embedding model behind the tune's disk cache (`<data_dir>/tune/`): what the
    sweep embedded, and the project index's own vectors, are not embedded again, so applying a
    winner whose chunking the sweep built costs a re-chunk, not a re-embed. Close it when done."""
    from workbench.core.retrieval.embed_cache import CachedEmbedder
    from workbench.core.retrieval.embedder import get_embedder

    settings = project.config.retrieval
    inner = get_embedder(settings.embedding_model, project.root)
    return CachedEmbedder(inner, _tune_dir(project) / "embeddings.sqlite")


def _tune_dir(project: Any) -> Path:
    """Where a sweep keeps its scratch indexes and its embedding cache."""
    return Path(project.data_dir) / "tune"


def index_line(report: Any, encoded: int) -> str:
    """What applying did to the index: a winner that keeps the chunking changes only how the
    index is searched, so the ingest finds every file unchanged. `encoded`: the texts the model
    embedded (the tune embedder's cache misses), not the chunks the ingest asked vectors for."""
    from workbench.core.message_numbers import plural

    if report.nothing_changed:
        return "index unchanged (same chunking)"
    files = len(report.added) + len(report.updated)
    return (
        f"index updated: {plural(files, 'file')} chunked again, {report.chunks_total} chunks, "
        f"{plural(encoded, 'text')} embedded (the rest came from the tune's cache)"
    )


def eval_applied(project: Any, evalset: Any, evalset_path: Path) -> tuple[int, Any]:
    """Score the project's (re-indexed) current settings on `evalset` and store it: (eval id, eval)."""
    from workbench.core.retrieval.embedder import get_embedder
    from workbench.core.retrieval.evaluate import evaluate
    from workbench.core.retrieval.service import open_index
    from workbench.core.retrieval.traces import record_eval

    settings = project.config.retrieval
    ev = evaluate(
        evalset.cases,
        open_index(project, settings),
        settings,
        embedder=get_embedder(settings.embedding_model, project.root),
        evalset_name=evalset.name,
        evalset_path=str(evalset_path),
        evalset_hash=evalset.content_hash,
        whynot=False,
    )
    return record_eval(project.store, ev), ev


@dataclass
class AppliedConfig:
    """What `write_retrieval_changes` did: the file, its unified diff and the reloaded config."""

    path: Path
    diff: list[str]
    config: Any


def write_retrieval_changes(project: Any, changes: dict[str, Any]) -> AppliedConfig:
    """Set retrieval.<key> for each change in the project's workbench.yaml and reload the config."""
    from workbench.core.config import load_config

    config_path = Path(project.config.path) if project.config.path else None
    if config_path is None:
        raise WorkbenchError("no workbench.yaml to write the winner to")
    before = config_path.read_text(encoding="utf-8")
    after = set_retrieval_keys(config_path, before, changes)
    config_path.write_text(after, encoding="utf-8")
    try:
        config = load_config(Path(project.root))
    except WorkbenchError:
        config_path.write_text(before, encoding="utf-8")
        raise
    diff = list(
        difflib.unified_diff(before.splitlines(), after.splitlines(), str(config_path), str(config_path), lineterm="")
    )
    return AppliedConfig(config_path, diff, config)


def set_retrieval_keys(path: Path, text: str, changes: dict[str, Any]) -> str:
    """`text` with retrieval.<key>: <value> set for each change, as line edits (comments kept)."""
    from workbench.core.yamlfile import load_located

    lines = text.splitlines()
    located = load_located(path, text)
    data = located.data if isinstance(located.data, dict) else {}
    sect_line = located.lines.get(("retrieval",))
    section = data.get("retrieval")
    if "retrieval" not in data or sect_line is None:
        block = ["", "retrieval:"] + [f"  {k}: {_yaml_value(v)}" for k, v in changes.items()]
        return "\n".join(lines + block) + "\n"
    if section is not None and not isinstance(section, dict):
        raise WorkbenchError("retrieval: is not a mapping", path=path, line=sect_line)
    if section and located.lines.get(("retrieval", next(iter(section)))) == sect_line:
        raise WorkbenchError("retrieval: is in flow style ({...}); set the winner by hand", path=path, line=sect_line)
    indent = "  "
    if section:
        child = lines[located.lines[("retrieval", next(iter(section)))] - 1]
        indent = child[: len(child) - len(child.lstrip())] or "  "
    inserts = []
    for key, value in changes.items():
        ln = located.lines.get(("retrieval", key))
        if ln is not None:
            old = lines[ln - 1]
            comment = ""
            if " #" in old:
                comment = "  #" + old.split(" #", 1)[1]
            lines[ln - 1] = f"{old[: len(old) - len(old.lstrip())]}{key}: {_yaml_value(value)}{comment}"
        else:
            inserts.append(f"{indent}{key}: {_yaml_value(value)}")
    lines = lines[:sect_line] + inserts + lines[sect_line:]
    return "\n".join(lines) + "\n"


def _yaml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)
