"""The claims a publisher has in hand on a shared ledger, and the thread that renews them.

On a shared ledger a claim is a lease (``publishing.lease``): it is renewed three times per
lease while the publish runs, and checked again before every platform call, so a daemon that
lost it to another stops instead of sending twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from klapper.ledger import Delivery, Ledger
from klapper.ledger.store import ClaimLost

log = logging.getLogger("klapper.publisher")


class Leases:
    """The claims in hand (id -> token), renewed by a thread started with the first one."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        clock: Callable[[], datetime],
        lease: Callable[[], timedelta],
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.lease = lease  # read at every round: a reloaded klapper.yaml applies
        self._guard = threading.Lock()
        self._in_hand: dict[str, str] = {}
        self._renewer: threading.Thread | None = None
        self._closed = threading.Event()

    def hold(self, delivery: str, token: str) -> None:
        """A claim taken: renew it until it is released (only on a shared ledger)."""
        if not self.ledger.shared:
            return
        with self._guard:
            self._in_hand[delivery] = token
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew, name="klapper-lease", daemon=True
                )
                self._renewer.start()

    def release(self, delivery: str) -> None:
        with self._guard:
            self._in_hand.pop(delivery, None)

    def _renew(self) -> None:
        """Renew every claim in hand three times per lease, while this process lives."""
        while not self._closed.wait(self.lease().total_seconds() / 3):
            with self._guard:
                held = list(self._in_hand.items())
            for delivery, token in held:
                try:
                    if not self.ledger.renew(delivery, token=token, now=self.clock()):
                        log.warning("the claim on %s was lost before it was renewed", delivery)
                except Exception:
                    log.exception("renewing the claim on %s failed", delivery)

    def still_held(self, delivery: Delivery, token: str) -> None:
        """Before a platform call on a shared ledger: the lease must still be ours, renewed."""
        if self.ledger.shared and not self.ledger.renew(delivery.id, token=token, now=self.clock()):
            raise ClaimLost(
                f"the claim on {delivery.id} ran out (publishing.lease) and another klapper"
                " took it over; this one stops"
            )

    def close(self) -> None:
        """Stop renewing (the claims still in hand run out by themselves)."""
        self._closed.set()
