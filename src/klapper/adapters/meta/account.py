"""What every Graph API adapter does the same way: one lazily made client, counted and closed."""

from __future__ import annotations

from typing import Any, ClassVar

from klapper.adapters.base import Adapter, AuthExpiredError
from klapper.adapters.meta import GRAPH_BASE, GRAPH_VERSION
from klapper.adapters.meta.graph import GraphClient


class GraphAdapter(Adapter):
    """An adapter whose account talks to the Graph API with ``secrets["access_token"]``."""

    title: ClassVar[str]  # "Facebook", for messages
    base: ClassVar[str] = GRAPH_BASE
    version: ClassVar[str] = GRAPH_VERSION

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._graph: GraphClient | None = None

    @property
    def graph(self) -> GraphClient:
        if self._graph is None:
            token = self.secrets.get("access_token")
            if not token:
                raise AuthExpiredError(
                    f"{self.title} account {self.name!r} has no token;"
                    f" run `klapper login {self.name}`"
                )
            self._graph = GraphClient(
                platform=self.title,
                account=self.name,
                token=token,
                base=str(self.settings.get("api_base") or self.base),
                version=str(self.settings.get("graph_version") or self.version),
                timeout=self.timeout,
            )
        return self._graph

    def requests_sent(self) -> int | None:
        return self._graph.sent if self._graph is not None else 0

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None
