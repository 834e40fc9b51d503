"""What `workbench init` writes: workbench.yaml (every section present, the optional ones commented
out), one prompt, an eval set with one example case to copy, and a docs/ folder with one page.

Never overwrites: if any of those files exists, nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import WorkbenchError

WORKBENCH_YAML = """\
# {name}: a workbench project (made by `workbench init`). Every section is here; the ones
# you may not need yet are commented out. Values shown are the defaults.
name: {name}

model:
  provider: ollama         # ollama | embedded (in-process SmolLM2, no server) | openai
  name: llama3.2           # `ollama pull llama3.2` first
  # host: http://127.0.0.1:11434   # default: $OLLAMA_HOST, else localhost:11434
  options:
    temperature: 0
    seed: 42
    num_ctx: 4096          # set it: Ollama silently cuts prompts longer than its context
    num_predict: 256

fallback:
  - embedded               # answers with no server and no download when Ollama is not running

# timeouts:
#   connect_s: 3
#   first_token_s: 120     # a cold model load happens before the first byte
#   idle_s: 30
#   total_s: 600
# retries:
#   count: 2
#   backoff_s: 0.5
# pricing:                 # price local runs as a hosted model would cost (per 1k tokens)
#   prompt_per_1k: 0.00015
#   completion_per_1k: 0.0006
# budget:
#   max_tokens_per_request: 8000
#   action: warn           # or refuse

prompts_dir: prompts
default_prompt: qa
# data_dir: .workbench     # runs.db and the retrieval index

retrieval:
  corpus: [docs]           # files or folders to ingest (`workbench ingest`)
  mode: hybrid             # dense | fts | hybrid
  k: 4
  # chunk_tokens: 200

evals:
  dir: evals
  default_set: starter.yaml
  # concurrency: 4
  # judge_model: embedded  # for llm-judge checks; default: the main model

# variants:                # named alternatives to compare (`workbench eval run --variant terse`)
#   terse:
#     system: Answer in one sentence.
#   k8:
#     retrieval: {{k: 8}}

# finetune:                # the guard allows a fine-tune only once prompts and retrieval plateau
#   min_cases: 30
"""

QA_PROMPT = """\
description: Answer from the numbered excerpts of docs/, citing them.
system: |
  You answer questions using only the numbered sources given.
  Cite sources like [1]. If the sources do not contain the answer, say so.
template: |
  Sources:
  {context}

  Question: {question}
  Answer briefly, citing sources like [1].
"""

STARTER_EVALS = """\
# Your eval set: one case per question a user really asks, with the answer you expect.
# Copy the example case, change it, and run `workbench eval run`. Check types: contains,
# icontains, contains-any, regex, similar (via expected), llm-judge, cites, max-latency-ms.
name: starter
description: Questions about the documents in docs/.

cases:
  - id: example-what-is-this
    inputs:
      question: What is this project for?
    expected: It answers questions about the documents in the docs folder.
    relevant: [getting-started.md]
    tags: [example]
    assert:
      - type: icontains
        value: docs
"""

GETTING_STARTED = """\
# Getting started

This project answers questions about the documents in the docs folder. Put your own Markdown
or text files in docs/, run `workbench ingest`, and ask with `workbench ask "..."`.

## Evaluating

Each question in evals/starter.yaml is a case. `workbench eval run` answers every case and
checks the answers; `workbench eval diff` compares two runs.
"""


def scaffold_files(name: str) -> dict[str, str]:
    """Relative path -> content of what `init` writes."""
    return {
        "workbench.yaml": WORKBENCH_YAML.format(name=name),
        "prompts/qa.yaml": QA_PROMPT,
        "evals/starter.yaml": STARTER_EVALS,
        "docs/getting-started.md": GETTING_STARTED,
    }


def write_scaffold(root: Path) -> None:
    """Write the scaffold into ROOT (created if missing); refuse if any of its files exists."""
    if root.exists() and not root.is_dir():
        raise WorkbenchError(f"{root} is a file, not a folder", field="DIR")
    files = scaffold_files(root.name or "my-project")
    existing = [rel for rel in files if (root / rel).exists()]
    if existing:
        raise WorkbenchError(
            f"not overwriting {', '.join(existing)} in {root}: `workbench init` only starts a new project",
            path=root / existing[0],
        )
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": never replace a file made meanwhile
            f.write(text)
