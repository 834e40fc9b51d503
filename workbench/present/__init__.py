"""Presentation: core records turned into Rich renderables and plain text, for the CLI and the TUI.

The rule: present imports core and rich, never Textual and never `workbench.commands`; core never
imports present (tests/test_import_hygiene.py checks both). Numbers are formatted in `numbers.py` only.
"""
