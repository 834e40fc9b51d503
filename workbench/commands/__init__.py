"""Headless subcommands; each module has `register(subparsers)` (see workbench/cli.py)."""
