"""`workbench retrieval tune [EVALSET] [--apply]`: find the best retrieval settings, with evidence.

Prints the re-index cost before anything is embedded, progress on stderr, then one row per
configuration: nDCG@10, recall@k, MRR@10 and the paired bootstrap CI of its nDCG@10 delta against
the current settings ("*" = the interval excludes 0). Ctrl-C stops after the current case and
keeps the configurations already finished. `--apply` writes the winner into workbench.yaml
(line edits that keep comments; the diff is shown), re-indexes, and stores a `retrieval eval`
of the applied settings, so the score a user is shown is one `retrieval eval` reproduces.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import signal
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.core.errors import WorkbenchError

EMBED_RATE = 40.0  # chunks/s for all-MiniLM-L6-v2 on 2 CPU cores (benchmarks/retrieval_speed.py ballpark)


def register(gsub: argparse._SubParsersAction) -> None:
    t = gsub.add_parser(
        "tune",
        help="sweep chunking, mode, fusion weights and the document vector against labelled cases",
        description="Score a small grid of retrieval settings on an eval set's `relevant:` labels "
        "and show which differences from the current settings are real (paired bootstrap CI). "
        "Indexes for other chunkings are built under the data folder's tune/ with cached embeddings.",
    )
    t.add_argument("evalset", nargs="?", help="eval file or name under evals/ (default: evals.default_set)")
    t.add_argument("--k", type=int, help="cutoff for @k metrics (default: retrieval.k)")
    t.add_argument("--apply", action="store_true", help="write the winner to workbench.yaml and re-index")
    t.add_argument("--json", action="store_true", help="one JSON object")
    t.set_defaults(func=run_tune_command)


def run_tune_command(args: argparse.Namespace, project: Any) -> int:
    from workbench.core.evals.lookup import resolve_evalset_path
    from workbench.core.evals.evalset import load_evalset
    from workbench.core.retrieval.embed_cache import CachedEmbedder
    from workbench.core.retrieval.embedder import get_embedder
    from workbench.core.retrieval.index import IndexUnavailable
    from workbench.core.retrieval.service import corpus_paths, open_index
    from workbench.core.retrieval.tune import default_grid, embed_cost, run_tune, seed_cache

    settings = project.config.retrieval
    path = resolve_evalset_path(project, args.evalset)
    evalset = load_evalset(path)
    if not any(c.relevant for c in evalset.cases):
        raise WorkbenchError("no case in this eval set has `relevant:` labels, so retrieval cannot be tuned",
                             path=path)
    err = Console(stderr=True, highlight=False)
    tune_dir = Path(project.data_dir) / "tune"
    cache = CachedEmbedder(get_embedder(settings.embedding_model, project.root), tune_dir / "embeddings.sqlite")
    try:
        seed_cache(cache, open_index(project, settings))
    except IndexUnavailable:
        pass  # no project index yet: everything is embedded here
    grid = default_grid(settings)
    paths = corpus_paths(project, settings)
    chunk_settings = [dataclasses.replace(settings, chunk_tokens=c.chunk_tokens, overlap_tokens=c.overlap_tokens)
                      for c in {(c.chunk_tokens, c.overlap_tokens): c for c in grid}.values()]
    todo, total = embed_cost(paths, paths, chunk_settings, cache)
    n_cases = sum(1 for c in evalset.cases if c.relevant)
    err.print(Text(f"tune: {len(grid)} configurations, {len(chunk_settings)} chunkings, {n_cases} labelled cases; "
                   f"re-index cost: {todo} of {total} chunk texts to embed (about {_dur(todo / EMBED_RATE)})"
                   + ("" if todo else ", all cached")))

    cancel = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print(Text("stopping; finished configurations are kept (Ctrl-C again to abort now)", style="yellow"))

    last = [""]

    def progress(what: str, done: int, total_: int) -> None:
        if err.is_terminal and (what != last[0] or done == total_):
            last[0] = what
            err.print(Text(f"  {what} ({done}/{total_} cases)", style="dim"))

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    try:
        res = run_tune(evalset.cases, settings, grid, paths=paths, bases=paths, tune_dir=tune_dir,
                       embedder=cache, k=args.k, progress=progress, cancel=cancel)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        cache.close()
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print_tune(Console(highlight=False), res)
    winner = res.winner
    if not args.apply:
        if winner and winner.config != res.current:
            err.print(Text("apply the winner with `workbench retrieval tune --apply`", style="dim"))
        return 0
    if res.cancelled:
        raise WorkbenchError("tune was stopped before every configuration was scored: nothing applied")
    if winner is None or winner.config == res.current:
        err.print(Text("no configuration is really better than the current settings: nothing to apply"))
        return 0
    return apply_winner(project, winner.config.changes(settings), evalset, path, err)


def apply_winner(project: Any, changes: dict[str, Any], evalset: Any, evalset_path: Path, err: Console) -> int:
    """Write `changes` under retrieval:, show the diff, re-index, store a retrieval eval."""
    from workbench.commands.retrieval import ingest_with_progress
    from workbench.core.config import load_config
    from workbench.core.retrieval.embedder import get_embedder
    from workbench.core.retrieval.evaluate import evaluate
    from workbench.core.retrieval.service import open_index
    from workbench.core.retrieval.traces import record_eval

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
    out = Console(highlight=False)
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), str(config_path), str(config_path), lineterm=""):
        out.print(Text(line, style="green" if line.startswith("+") else "red" if line.startswith("-") else ""))
    settings = config.retrieval
    project.config = config
    ingest_with_progress(project, settings, None, reindex=True)
    ev = evaluate(evalset.cases, open_index(project, settings), settings,
                  embedder=get_embedder(settings.embedding_model, project.root), evalset_name=evalset.name,
                  evalset_path=str(evalset_path), evalset_hash=evalset.content_hash, whynot=False)
    eval_id = record_eval(project.store, ev)
    m = ev.metrics[settings.mode]
    out.print(Text(f"applied and re-indexed; retrieval eval re{eval_id}: {settings.mode} nDCG@10 {m['ndcg@10']:.3f}, "
                   f"MRR@10 {m['mrr@10']:.3f}"))
    return 0


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
    return json.dumps(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)


def print_tune(out: Console, res: Any) -> None:
    k = res.k
    t = Table(title=f"retrieval tune: {res.n_cases} cases, k={k}" + (" (stopped early)" if res.cancelled else ""))
    for col in ("configuration", "nDCG@10", f"recall@{k}", "MRR@10", "nDCG Δ vs current [95% CI]", ""):
        t.add_column(col, justify="left" if col == "configuration" else "right")
    winner = res.winner
    for r in res.rows:
        d, lo, hi = r.delta
        mark = "current" if r.config == res.current else ("winner" if r is winner else "")
        t.add_row(r.config.label(), f"{r.metrics['ndcg@10']:.3f}", f"{r.metrics['recall@k']:.3f}",
                  f"{r.metrics['mrr@10']:.3f}",
                  "" if r.config == res.current else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]{' *' if r.real else '  '}", mark)
    out.print(t)
    out.print(Text("* the interval excludes 0: a real difference on these cases, not noise of the sample. "
                   f"{res.embedded} texts embedded, {res.seconds:.0f} s."))
    for n in res.notes:
        out.print(Text(n, style="yellow"))


def _dur(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"
