"""Visits and goals from Matomo's Reporting API: Referrers.getCampaigns, per source and day.

One HTTP request (``API.getBulkRequest``, POSTed to ``index.php`` with ``token_auth`` in the
body, never in the address) carries one ``Referrers.getCampaigns`` call per utm_source,
each with ``period=day`` over the whole range of days and the segment
``campaignSource==SOURCE`` (the source dimension of Matomo's Marketing Campaigns Reporting,
part of Matomo Cloud, a plugin on your own Matomo). Without it, ``by_source: false`` reads
every campaign once, unsplit. ``filter_limit=-1``: Matomo otherwise cuts a report at 100 rows.
A campaign's row holds ``nb_visits``, ``nb_uniq_visitors`` (when Matomo keeps unique visitors
for days) and, where goals were converted, ``nb_conversions`` (absent: none that day).
Matomo answers a fault with status 200 and ``{"result": "error", "message": ...}``, for the
whole request or for one call in it: both are a ``SiteError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from klapper.engagement.sites import SiteClient, SiteError, SiteRow, WindowRead, as_count

#: Referrers.getCampaigns calls per bulk request (one HTTP request; sources are few)
CALLS_PER_REQUEST = 50


class MatomoReader:
    """Reads one Matomo site's campaigns; see the module docstring."""

    tool = "matomo"

    def __init__(self, *, client: SiteClient, site_id: int, by_source: bool = True) -> None:
        self.client = client
        self.site_id = site_id
        self.by_source = by_source

    def _call(self, *, start: date, end: date, source: str | None) -> str:
        params = {
            "method": "Referrers.getCampaigns",
            "idSite": str(self.site_id),
            "period": "day",
            "date": f"{start.isoformat()},{end.isoformat()}",
            "format": "JSON",
            "filter_limit": "-1",
        }
        if source is not None:
            # A segment's value is URL-encoded inside the segment (Matomo's segment syntax).
            params["segment"] = f"campaignSource=={quote(source, safe='')}"
        return urlencode(params)

    def read(self, *, start: date, end: date, sources: Sequence[str], budget: int) -> WindowRead:
        asked: list[str | None] = list(dict.fromkeys(sources)) if self.by_source else [None]
        result = WindowRead()
        for first in range(0, len(asked), CALLS_PER_REQUEST):
            if result.requests >= budget:
                result.complete = False
                break
            chunk = asked[first : first + CALLS_PER_REQUEST]
            body = {
                "module": "API",
                "method": "API.getBulkRequest",
                "format": "JSON",
                "token_auth": self.client.token,
                **{
                    f"urls[{n}]": self._call(start=start, end=end, source=source)
                    for n, source in enumerate(chunk)
                },
            }
            result.requests += 1
            try:
                answer = self.client.post("/index.php", data=body)
                self._check(answer)
                if not isinstance(answer, list) or len(answer) != len(chunk):
                    raise SiteError("matomo answered something other than its bulk answer")
                for source, report in zip(chunk, answer, strict=True):
                    self._check(report)
                    result.rows += self._rows(report, source=source or "")
            except SiteError as exc:
                exc.requests = result.requests
                raise
        return result

    def _check(self, answer: Any) -> None:
        """Matomo's 200-with-error: ``{"result": "error", "message": ...}``."""
        if isinstance(answer, Mapping) and answer.get("result") == "error":
            said = self.client.redact(str(answer.get("message") or "no message"))
            raise SiteError(f"matomo at {self.client.host} says: {said}")

    @staticmethod
    def _rows(report: Any, *, source: str) -> list[SiteRow]:
        if not isinstance(report, Mapping):
            raise SiteError("matomo answered a report that is not one per day (period=day)")
        rows = []
        for day, entries in report.items():
            try:
                when = date.fromisoformat(str(day))
            except ValueError:
                raise SiteError(f"matomo answered a report for {day!r}, not a day") from None
            for entry in entries or ():
                if not isinstance(entry, Mapping) or "label" not in entry:
                    continue
                rows.append(
                    SiteRow(
                        campaign=str(entry["label"]),
                        source=source,
                        day=when,
                        visits=as_count(entry.get("nb_visits")) or 0,
                        visitors=as_count(entry.get("nb_uniq_visitors")),
                        goals=as_count(entry.get("nb_conversions")) or 0,
                    )
                )
        return rows
