"""Retrieval you can see into: documents -> chunks -> LanceDB index -> dense / full-text / hybrid
search, with each method's rank visible per chunk, metrics against labels and why-not reports.

Modules (import the one you need; this package imports nothing heavy at import time):
  settings   RetrievalSettings (the `retrieval:` section of workbench.yaml)
  documents  read Markdown / reStructuredText / text / HTML, or say why a file is skipped
  chunking   heading-aware chunks with token budget, overlap, spans and stable ids
  embedder   lazy sentence-transformers wrapper (bundled all-MiniLM-L6-v2 by default)
  index      the LanceDB table + metadata; IndexUnavailable when it cannot be used
  ingest     incremental, interruptible ingest
  search     dense / fts / hybrid with every method's rank and score per result
  metrics    hit@k, recall@k, precision@k, MRR@10, nDCG@10
  whynot     where the gold document ranked, what outranked it, boundary splits
  traces     store / load retrieval traces in the project's SQLite store
"""
