"""Eval sets and everything measured against them.

Modules: evalset (file format), assertions (scorers), stats (confidence intervals, McNemar,
bootstrap), attribution (which lever fixes a failure), diff (two runs case by case), runner
(concurrent, cached, resumable runs stored in SQLite), promote (production cases into the set),
gate (CI exit codes and reports). Nothing heavy is imported here.
"""
