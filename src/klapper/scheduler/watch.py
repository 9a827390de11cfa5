"""Watch klapper.yaml and the posts folder; report a batch of changed paths after a quiet spell.

File events come from the kernel (inotify via watchdog); where that cannot start (no inotify,
too many watches) a polling observer takes over. Events are gathered for ``debounce`` seconds
after the last one, so that an editor's save or a `git pull` of many files is one change.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("klapper.watch")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: RepoWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading a file changes nothing
        paths = [os.fsdecode(event.src_path)]
        if getattr(event, "dest_path", ""):
            paths.append(os.fsdecode(event.dest_path))
        self.watcher.note(paths)


class RepoWatcher:
    """Calls ``on_change(paths)`` from its own thread once changes to the queue settle."""

    def __init__(
        self,
        *,
        root: Path,
        posts: str,
        config_file: str,
        on_change: Callable[[set[str]], None],
        debounce: float = 0.25,
        polling: bool = False,
    ) -> None:
        self.root = root.resolve()
        self.posts = (self.root / posts).resolve()
        self.config_file = str(self.root / config_file)
        self.on_change = on_change
        self.debounce = debounce
        self.polling = polling
        self._pending: set[str] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._observer: BaseObserver | None = None
        self._posts_watched = False

    def relevant(self, path: str) -> bool:
        return (
            path == self.config_file
            or path == str(self.posts)
            or path.startswith(str(self.posts) + os.sep)
        )

    def note(self, paths: list[str]) -> None:
        if not self._posts_watched and any(p == str(self.posts) for p in paths):
            self._watch_posts()  # the posts folder was created after we started
        paths = [p for p in paths if self.relevant(p)]
        if not paths:
            return
        with self._lock:
            self._pending.update(paths)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            paths, self._pending, self._timer = self._pending, set(), None
        if paths:
            self.on_change(paths)

    def start(self) -> None:
        try:
            self._start(PollingObserver(timeout=1.0) if self.polling else Observer())
        except OSError as exc:
            log.warning("file events unavailable (%s); checking for changes every second", exc)
            self.polling = True
            self._start(PollingObserver(timeout=1.0))

    def _start(self, observer: BaseObserver) -> None:
        self._observer = observer
        handler = _Handler(self)
        # The root alone (klapper.yaml, the posts folder appearing), never the whole tree:
        # the outbox and .git live there too and change all the time.
        observer.schedule(handler, str(self.root), recursive=False)
        observer.start()
        self._watch_posts()

    def _watch_posts(self) -> None:
        if self._observer is None or self._posts_watched or not self.posts.is_dir():
            return
        self._observer.schedule(_Handler(self), str(self.posts), recursive=True)
        self._posts_watched = True

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
