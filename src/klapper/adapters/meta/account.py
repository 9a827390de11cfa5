"""What every Graph API adapter does the same way: one lazily made client, whose token it is.

The client is made on first use, counted and closed. Before anything is sent the token's
identity (``adapters.identity``) is compared with the account klapper.yaml names: a token
that was not checked yet costs one call (the platform's ``whose``), whose answer is recorded.
"""

from __future__ import annotations

from typing import Any, ClassVar

from klapper.adapters.base import Adapter, AuthExpiredError
from klapper.adapters.identity import checked, is_checked, mismatch_error
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
        self._identity_ok = False  # checked once per adapter, before the first post or find

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

    # --- whose the token is -------------------------------------------------------------------

    #: the secrets key holding the recorded id that must equal ``named_id``
    identity_key: ClassVar[str]

    @property
    def named_id(self) -> str:
        """The id klapper.yaml names for this account (the Page, the Instagram account)."""
        raise NotImplementedError

    def whose(self) -> dict[str, str]:
        """Ask Meta whose the token is: the identity entries to record."""
        raise NotImplementedError

    def described(self, recorded: dict[str, str]) -> tuple[str, str]:
        """(whose the token is, whom klapper.yaml names), for the mismatch message."""
        raise NotImplementedError

    def check_identity(self) -> None:
        """Go on only with a token of the account klapper.yaml names; else pause it."""
        if self._identity_ok:
            return
        if not is_checked(self.secrets, credential="access_token"):
            self.update_secrets(**checked(self.secrets, credential="access_token", **self.whose()))
        if self.secrets.get(self.identity_key) != self.named_id:
            stored, named = self.described(dict(self.secrets))
            raise mismatch_error(account=self.name, platform=self.title, stored=stored, named=named)
        self._identity_ok = True

    def requests_sent(self) -> int | None:
        return self._graph.sent if self._graph is not None else 0

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None
