"""The headless core. Nothing under this package may import Textual (tests/test_import_hygiene.py)."""
