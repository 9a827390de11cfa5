"""`klapper preview`: how each upcoming post will look for each account, as an HTML page or JSON."""

from __future__ import annotations

from klapper.preview.changes import Changes, GitError, changed_files, removed_posts
from klapper.preview.export import preview_json
from klapper.preview.images import Images
from klapper.preview.model import Preview, Removed, build_preview
from klapper.preview.page import render_page

__all__ = [
    "Changes",
    "GitError",
    "Images",
    "Preview",
    "Removed",
    "build_preview",
    "changed_files",
    "preview_json",
    "removed_posts",
    "render_page",
]
