"""The command line: parses arguments, then calls one function of a subpackage."""

from __future__ import annotations

from klapper.cli.app import app

# Each module registers its commands on `app`: the table of command groups is this list.
# In help order: content (check, plan, schema), engine, ledger, accounts, engagement (with
# inbox reply), import, preview.
from klapper.cli import content, engine, ledger, accounts, engagement, reply, intake, preview  # noqa: F401  isort: skip


def main() -> None:
    app()
