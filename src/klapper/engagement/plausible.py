"""Visits and goals from Plausible's Stats API v2: ``POST /api/v2/query`` with a Bearer key.

Two queries per range of days, each over every campaign and source at once, with the
dimensions ``visit:utm_campaign``, ``visit:utm_source`` and ``time:day`` and the filter
``is_not visit:utm_campaign ""`` (visits without a campaign are not klapper's):

- visits and visitors (``metrics: [visits, visitors]``);
- goal conversions: ``event:goal`` as a fourth dimension with the metric ``events``, which
  Plausible counts as a goal's total conversions; they are summed over the goals.

Plausible answers at most ``pagination.limit`` rows (10,000 by default) per request; with
``include.total_rows`` it says how many there are (``meta.total_rows``), and the next page is
asked with ``offset``. Errors come as ``{"error": ...}`` with a 4xx status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from klapper.engagement.sites import SiteClient, SiteError, SiteRow, WindowRead, as_count

#: rows per request (Plausible's own default and its largest page)
PAGE = 10_000
_DIMENSIONS = ["visit:utm_campaign", "visit:utm_source", "time:day"]
_WITH_CAMPAIGN = [["is_not", "visit:utm_campaign", [""]]]


class PlausibleReader:
    """Reads one Plausible site's campaigns; see the module docstring."""

    tool = "plausible"

    def __init__(self, *, client: SiteClient, site_id: str, page: int = PAGE) -> None:
        self.client = client
        self.site_id = site_id
        self.page = page

    def read(self, *, start: date, end: date, sources: Sequence[str], budget: int) -> WindowRead:
        del sources  # every source comes in the same rows
        result = WindowRead()
        figures: dict[tuple[str, str, date], dict[str, int | None]] = {}
        queries = (
            (_DIMENSIONS, ["visits", "visitors"]),
            (["event:goal", *_DIMENSIONS], ["events"]),
        )
        for dimensions, metrics in queries:
            offset = 0
            while True:
                if result.requests >= budget:
                    result.complete = False
                    break
                result.requests += 1
                try:
                    rows, total = self._page(start, end, dimensions, metrics, offset)
                except SiteError as exc:
                    exc.requests = result.requests
                    raise
                for keys, values in rows:
                    self._add(figures, keys[-3:], dict(zip(metrics, values, strict=True)))
                offset += len(rows)
                if not rows or offset >= total:
                    break
        result.rows = [
            SiteRow(
                campaign=campaign,
                source=source,
                day=day,
                visits=found.get("visits") or 0,
                visitors=found.get("visitors"),
                goals=found.get("goals") or 0,
            )
            for (campaign, source, day), found in sorted(figures.items())
        ]
        return result

    def _page(
        self, start: date, end: date, dimensions: list[str], metrics: list[str], offset: int
    ) -> tuple[list[tuple[list[Any], list[Any]]], int]:
        query = {
            "site_id": self.site_id,
            "date_range": [start.isoformat(), end.isoformat()],
            "metrics": metrics,
            "dimensions": dimensions,
            "filters": _WITH_CAMPAIGN,
            "include": {"total_rows": True},
            "pagination": {"limit": self.page, "offset": offset},
        }
        answer = self.client.post(
            "/api/v2/query",
            json=query,
            headers={"Authorization": f"Bearer {self.client.token}"},
        )
        results = answer.get("results") if isinstance(answer, Mapping) else None
        if not isinstance(results, list):
            raise SiteError(f"plausible at {self.client.host} answered without results")
        rows = []
        for row in results:
            keys, values = row.get("dimensions"), row.get("metrics")
            if not (isinstance(keys, list) and isinstance(values, list)):
                continue
            if len(keys) == len(dimensions) and len(values) == len(metrics):
                rows.append((keys, values))
        meta = answer.get("meta") or {}
        total = as_count(meta.get("total_rows")) if isinstance(meta, Mapping) else None
        return rows, total if total is not None else offset + len(rows)

    @staticmethod
    def _add(
        figures: dict[tuple[str, str, date], dict[str, int | None]],
        keys: Sequence[Any],
        values: Mapping[str, Any],
    ) -> None:
        campaign, source, day = keys
        try:
            when = date.fromisoformat(str(day)[:10])
        except ValueError:
            return
        found = figures.setdefault((str(campaign), str(source), when), {})
        if "events" in values:  # one goal's conversions: summed over the goals
            found["goals"] = (found.get("goals") or 0) + (as_count(values["events"]) or 0)
        else:
            found["visits"] = as_count(values.get("visits"))
            found["visitors"] = as_count(values.get("visitors"))
