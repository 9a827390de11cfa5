"""A fake Matomo answering its Reporting API as documented: ``index.php?module=API``.

What it does as Matomo does: ``token_auth`` is taken from the POST body only (a token made
"only allow secure requests", refused in the address); a wrong token is HTTP 401 with
``{"result": "error", "message": ...}``; any other fault is HTTP 200 with that same body
(an unknown method, a segment without the Marketing Campaigns Reporting plugin, a bad
date); without ``format=JSON`` the answer is XML, Matomo's default. ``API.getBulkRequest``
runs each ``urls[n]`` and answers a list, one entry (or error) per call.
``Referrers.getCampaigns`` with ``period=day`` and ``date=A,B`` answers one table per day;
each table is cut at ``filter_limit`` rows (100 by default; -1 for all). Campaign names and
sources are lowercased when tracked, as Matomo does. A row carries ``nb_visits``,
``nb_uniq_visitors`` and, where goals were converted, ``nb_conversions`` and ``goals``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import serving
from tests.fakes.site_visits import SiteState, Visit, faulted, read_body, send_json

SITE_ID = 1
TOKEN = "matomo-token-3f9a8c7d6e5b4a39"
DEFAULT_LIMIT = 100


def _error(message: str) -> dict[str, str]:
    return {"result": "error", "message": message}


@dataclass
class MatomoState(SiteState):
    """The fake's data; ``campaign_plugin`` False: a Matomo without campaign sources."""

    campaign_plugin: bool = True


def _flat(query: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[-1] for key, values in query.items()}


def _days(spec: str) -> list[date]:
    first, _, last = spec.partition(",")
    start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _campaigns(state: MatomoState, params: dict[str, str]) -> Any:
    if params.get("idSite") != str(SITE_ID):
        return _error(f"The website id {params.get('idSite')} is not valid.")
    if params.get("period") != "day":
        return _error("this fake answers period=day only")
    try:
        days = _days(params.get("date", ""))
    except ValueError:
        return _error(f"The date '{params.get('date')}' is not a correct date range")
    source = None
    segment = params.get("segment", "")
    if segment:
        name, _, value = segment.partition("==")
        if name != "campaignSource" or not state.campaign_plugin:
            return _error(f"Segment '{name}' is not a supported segment.")
        source = unquote(value)
    limit = int(params.get("filter_limit", DEFAULT_LIMIT))
    with state.lock:
        visits = [
            v for v in state.visits if v.campaign and (source is None or v.source.lower() == source)
        ]
    tables: dict[str, list[dict[str, Any]]] = {}
    for day in days:
        groups: dict[str, list[Visit]] = {}
        for visit in visits:
            if visit.day == day:
                groups.setdefault(visit.campaign.lower(), []).append(visit)
        rows = []
        for label, found in groups.items():
            row: dict[str, Any] = {
                "label": label,
                "nb_uniq_visitors": len({v.visitor for v in found}),
                "nb_visits": len(found),
                "nb_actions": 2 * len(found),
            }
            conversions = sum(len(v.goals) for v in found)
            if conversions:
                row["nb_conversions"] = conversions
                row["revenue"] = 0
                row["goals"] = {f"idgoal={n}": {"nb_conversions": conversions} for n in range(1, 2)}
            rows.append(row)
        rows.sort(key=lambda r: -r["nb_visits"])
        tables[day.isoformat()] = rows if limit < 0 else rows[:limit]
    return tables


def _call(state: MatomoState, params: dict[str, str]) -> Any:
    method = params.get("method")
    if method == "Referrers.getCampaigns":
        return _campaigns(state, params)
    return _error(f"The method '{method}' does not exist or is not available in the module.")


def handler_for(state: MatomoState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            params = _flat(parse_qs(read_body(self).decode(), keep_blank_values=True))
            in_address = _flat(parse_qs(url.query))
            with state.lock:
                state.asked.append({"path": url.path, "address": in_address, **params})
            if faulted(self, state):
                return
            if url.path != "/index.php" or params.get("module") != "API":
                send_json(self, 404, {"error": "not found"})
                return
            if "token_auth" in in_address or params.get("token_auth") != state.token:
                send_json(
                    self,
                    401,
                    _error(
                        "You can't access this resource as it requires 'view' access "
                        f"for the website id = {SITE_ID}."
                    ),
                )
                return
            if params.get("format") != "JSON":
                data = b"<?xml version='1.0' encoding='utf-8' ?><result />"
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if params.get("method") == "API.getBulkRequest":
                calls = sorted(
                    (int(key[5:-1]), value)
                    for key, value in params.items()
                    if key.startswith("urls[") and key.endswith("]")
                )
                send_json(self, 200, [_call(state, _flat(parse_qs(query))) for _, query in calls])
                return
            send_json(self, 200, _call(state, params))

    return Handler


@contextlib.contextmanager
def fake_matomo(state: MatomoState | None = None) -> Iterator[tuple[str, MatomoState]]:
    """A running fake Matomo: its base URL and its state."""
    state = state or MatomoState(token=TOKEN)
    with serving(handler_for(state), on_stop=state.released.set) as base:
        yield base, state
