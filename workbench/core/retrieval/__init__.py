"""Retrieval you can see into: documents -> chunks -> LanceDB index -> dense / full-text / hybrid
search, with each method's rank visible per chunk, metrics against labels and why-not reports.

Details: docs/NOTES.md, section core/retrieval/__init__.py.
"""
