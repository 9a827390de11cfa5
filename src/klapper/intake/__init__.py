"""Content that comes in from elsewhere: another tool's bulk-scheduling CSV -> post files."""

from __future__ import annotations

from klapper.intake.csvimport import IntakeError, IntakeUsageError, import_csv
from klapper.intake.writer import ImportResult

__all__ = ["ImportResult", "IntakeError", "IntakeUsageError", "import_csv"]
