"""Post files -> Post objects: loading with file:line, validation (`klapper check`), rescans."""

from __future__ import annotations

from klapper.queue.check import announced_rules, check_posts
from klapper.queue.load import LoadCache, Repository, load_repository

__all__ = ["LoadCache", "Repository", "announced_rules", "check_posts", "load_repository"]
