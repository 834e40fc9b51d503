"""Reusable widgets of the workbench (each owns its DEFAULT_CSS-free look via app.tcss)."""
