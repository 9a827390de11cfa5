"""The command line: parses arguments, then calls one function of a subpackage."""

from __future__ import annotations

from klapper.cli.app import app

# Each module registers its commands on `app`; the table is explicit, not discovered.
for _optional in ("content", "engine", "accounts", "engagement"):
    try:
        __import__(f"klapper.cli.{_optional}")
    except ModuleNotFoundError as exc:  # a command group not built yet
        if exc.name != f"klapper.cli.{_optional}":
            raise


def main() -> None:
    app()
