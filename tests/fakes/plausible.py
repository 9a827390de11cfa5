"""A fake Plausible answering its Stats API v2 as documented: ``POST /api/v2/query``.

What it does as Plausible does: the key comes as ``Authorization: Bearer KEY`` (else 401
with ``{"error": ...}``); a query it cannot answer is 400 with ``{"error": ...}``; each
answer holds at most ``pagination.limit`` rows (10,000 by default and at most), from
``pagination.offset``, and ``meta.total_rows`` when ``include.total_rows`` is asked;
``results`` rows are ``{"dimensions": [...], "metrics": [...]}`` in the order asked.
Dimensions ``visit:utm_campaign``, ``visit:utm_source``, ``time:day`` and ``event:goal``;
metrics ``visits``, ``visitors`` and ``events`` (with ``event:goal``: a goal's conversions);
the filter ``["is_not", "visit:utm_campaign", [""]]``. Values keep their case.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import serving
from tests.fakes.site_visits import SiteState, Visit, faulted, read_body, send_json

SITE = "shop.example"
KEY = "plausible-key-8b7c6d5e4f3a2b1c"
MAX_LIMIT = 10_000
_DIMENSIONS: dict[str, Callable[[Visit, str | None], str]] = {
    "visit:utm_campaign": lambda v, _: v.campaign,
    "visit:utm_source": lambda v, _: v.source,
    "time:day": lambda v, _: v.day.isoformat(),
    "event:goal": lambda _, goal: goal or "",
}


def _query(state: SiteState, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if query.get("site_id") != SITE:
        return 400, {"error": f"Site not found: {query.get('site_id')!r}"}
    dimensions, metrics = query.get("dimensions", []), query.get("metrics", [])
    for name in dimensions:
        if name not in _DIMENSIONS:
            return 400, {"error": f"#/dimensions/0: Invalid dimension {json.dumps(name)}"}
    for name in metrics:
        if name not in ("visits", "visitors", "events"):
            return 400, {"error": f"#/metrics/0: Invalid metric {json.dumps(name)}"}
    if "event:goal" in dimensions and metrics != ["events"]:
        return 400, {"error": "this fake counts goals with the metric events only"}
    try:
        first, last = (date.fromisoformat(d) for d in query["date_range"])
    except (KeyError, TypeError, ValueError):
        return 400, {"error": "#/date_range: Invalid date range"}
    with state.lock:
        visits = [v for v in state.visits if first <= v.day <= last]
    for op, dimension, values in query.get("filters", []):
        if (op, dimension, values) != ("is_not", "visit:utm_campaign", [""]):
            return 400, {"error": f"this fake does not filter {op} {dimension}"}
        visits = [v for v in visits if v.campaign]
    page = query.get("pagination", {})
    limit, offset = page.get("limit", MAX_LIMIT), page.get("offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        return 400, {"error": f"#/pagination/limit: must be at most {MAX_LIMIT}"}
    groups: dict[tuple[str, ...], list[tuple[Visit, str | None]]] = {}
    for visit in visits:
        goals: tuple[str | None, ...] = visit.goals if "event:goal" in dimensions else (None,)
        for goal in goals:
            key = tuple(_DIMENSIONS[name](visit, goal) for name in dimensions)
            groups.setdefault(key, []).append((visit, goal))
    rows = []
    for key, found in sorted(groups.items()):
        figures = {
            "visits": len(found),
            "visitors": len({v.visitor for v, _ in found}),
            "events": len(found),
        }
        rows.append({"dimensions": list(key), "metrics": [figures[m] for m in metrics]})
    body: dict[str, Any] = {"results": rows[offset : offset + limit], "meta": {}, "query": query}
    if query.get("include", {}).get("total_rows"):
        body["meta"]["total_rows"] = len(rows)
    return 200, body


def handler_for(state: SiteState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            try:
                query = json.loads(read_body(self) or b"{}")
            except ValueError:
                query = None
            with state.lock:
                state.asked.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "query": query}
                )
            if faulted(self, state):
                return
            if self.path != "/api/v2/query":
                send_json(self, 404, {"error": "Not found"})
                return
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                send_json(self, 401, {"error": "Invalid API key or site ID combination"})
                return
            if not isinstance(query, dict):
                send_json(self, 400, {"error": "Invalid JSON body"})
                return
            send_json(self, *_query(state, query))

    return Handler


@contextlib.contextmanager
def fake_plausible(state: SiteState | None = None) -> Iterator[tuple[str, SiteState]]:
    """A running fake Plausible: its base URL and its state."""
    state = state or SiteState(token=KEY)
    with serving(handler_for(state), on_stop=state.released.set) as base:
        yield base, state
