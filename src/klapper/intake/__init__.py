"""Content that comes in from elsewhere: another tool's bulk-scheduling CSV -> post files."""

from __future__ import annotations

from klapper.intake.csvimport import ImportResult, IntakeError, IntakeUsageError, import_csv

__all__ = ["ImportResult", "IntakeError", "IntakeUsageError", "import_csv"]
