"""One visits round: the website's visits and goals for the posts whose reading is due.

A delivery's visits are read on the reactions' schedule (``engagement.schedule``: 1 h, 6 h,
1 d ... after publishing), one stage per delivery, kept apart from its reactions'. What is
due is asked per range of days, not per post: one range, from the earliest due post's day
to today (in klapper.yaml's time zone), covering every campaign and source at once (Matomo:
one request; Plausible: two, more past 10,000 rows). At most ``analytics.budget`` requests
a round; a range the budget cannot read whole is read again next round (raise the budget). Every row that is new or changed goes to the ledger (``visits``, nothing
is pruned) and to the event log as a ``visits`` event. A fault is one line, logged and in
the round's report; the analytics are left alone for ``ERROR_PAUSE`` and reactions go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from klapper.config.analytics import SECRETS_ENTRY, TOKEN_KEY, Analytics
from klapper.config.model import Config
from klapper.config.secrets import SecretsError, env_name, load_secrets
from klapper.engagement.attribution import Attribution, TagsOf
from klapper.engagement.matomo import MatomoReader
from klapper.engagement.plausible import PlausibleReader
from klapper.engagement.schedule import due_for_round, next_due
from klapper.engagement.sites import SiteClient, SiteError, SiteReader, SiteRow
from klapper.engagement.store import EngagementStore, posts_only
from klapper.engagement.visits_store import VisitsStore
from klapper.ledger import EventLog, Ledger, PublishedDelivery

log = logging.getLogger("klapper.engagement")

#: after a fault, the analytics are left alone this long
ERROR_PAUSE = timedelta(minutes=30)
_WAIT, _REASON = "visits:wait_until", "visits:wait_reason"

OpenReader = Callable[[Analytics, str], SiteReader]


def open_reader(analytics: Analytics, token: str) -> SiteReader:
    """The reader for klapper.yaml's ``analytics:`` with its token."""
    if analytics.matomo is not None:
        site = analytics.matomo
        client = SiteClient(tool="matomo", base=site.url, token=token, timeout=analytics.timeout)
        return MatomoReader(client=client, site_id=site.site_id, by_source=site.by_source)
    assert analytics.plausible is not None
    plausible = analytics.plausible
    client = SiteClient(
        tool="plausible", base=plausible.url, token=token, timeout=analytics.timeout
    )
    return PlausibleReader(client=client, site_id=plausible.site_id)


@dataclass
class VisitsReport:
    """What one visits round did."""

    tool: str
    readings: int = 0  # deliveries whose due stage was read
    rows: int = 0  # rows (campaign, source, day) new or changed
    requests: int = 0
    left: int = 0  # deliveries still due (budget, a fault, a wait)
    error: str | None = None  # this round's fault
    refused: bool = False  # the fault is a refused token (notify: tells it, once)
    why: str | None = None  # why readings wait
    waiting: datetime | None = None


class Visits:
    """Runs visits rounds over the ledger's published deliveries."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        events: EventLog,
        config: Config,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        marks: EngagementStore | None = None,
        environ: Mapping[str, str] | None = None,
        on_secrets: Callable[[list[str]], None] | None = None,
        reader: OpenReader = open_reader,
        tags: TagsOf | None = None,
    ) -> None:
        self.ledger = ledger
        self.tags = tags  # the campaign tags each delivery was sent with (see attribution)
        self.store = VisitsStore(ledger)
        self.marks = marks or EngagementStore(ledger)
        self.events = events
        self.config = config
        self.clock = clock
        self.environ = environ
        self.on_secrets = on_secrets
        self.open_reader = reader

    def _published(self) -> list[PublishedDelivery]:
        # One reading per delivery: the schedule's key is (delivery, part 0).
        return [
            PublishedDelivery(p.delivery, p.parts[:1])
            for p in posts_only(self.ledger.published_deliveries())
        ]

    def _waiting(self, now: datetime) -> datetime | None:
        until = self.marks.mark(_WAIT)
        moment = datetime.fromisoformat(until) if until else None
        return moment if moment is not None and moment > now else None

    def next_due(self) -> datetime | None:
        """When the next visits reading comes due (None: never, or no analytics)."""
        if self.config.analytics is None:
            return None
        soonest = next_due(
            published=self._published(),
            taken=self.store.stages_taken(),
            schedule=self.config.engagement.schedule,
        )
        if not soonest:
            return None
        when = min(soonest.values())
        wait = self._waiting(self.clock())
        return max(when, wait) if wait else when

    def run_round(self, *, look_now: bool = False) -> VisitsReport | None:
        """Read what is due; None without ``analytics:``. Never raises for the site's faults."""
        analytics = self.config.analytics
        if analytics is None:
            return None
        now = self.clock()
        report = VisitsReport(tool=analytics.tool)
        published = self._published()
        due = due_for_round(
            published=published,
            taken=self.store.stages_taken(),
            schedule=self.config.engagement.schedule,
            now=now,
            look_now=look_now,
        )
        report.left = len(due)
        if not due:
            return report
        wait = self._waiting(now)
        if wait is not None:
            report.waiting, report.why = wait, self.marks.mark(_REASON) or "waiting"
            return report
        try:
            reader = self.open_reader(analytics, self._token())
        except SiteError as exc:
            self._failed(str(exc), report, now)
            return report
        tz = self.config.tz
        first_day = {
            d.delivery.id: (d.delivery.published_at or d.delivery.due).astimezone(tz).date()
            for d in due
        }
        attribution = Attribution(published, self.config, tags=self.tags)
        whole = self._read(
            reader,
            start=min(first_day.values()),
            today=now.astimezone(tz).date(),
            sources=attribution.sources([d.delivery for d in due]),
            report=report,
            attribution=attribution,
            now=now,
        )
        taken = [(d.delivery.id, d.stage) for d in due] if whole else []
        self.store.add_stages(taken, now=now)
        report.readings, report.left = len(taken), len(due) - len(taken)
        if report.left and report.error is None:
            report.why = (
                f"{report.left} visits readings wait for the next round: the budget of "
                f"{analytics.budget} requests per round (analytics › budget) is spent"
            )
        return report

    def _read(
        self,
        reader: SiteReader,
        *,
        start: date,
        today: date,
        sources: Sequence[str],
        report: VisitsReport,
        attribution: Attribution,
        now: datetime,
    ) -> bool:
        """Read the days ``start`` to ``today`` at once; True when they were read whole."""
        assert self.config.analytics is not None
        try:
            got = reader.read(
                start=start, end=today, sources=sources, budget=self.config.analytics.budget
            )
        except SiteError as exc:
            report.requests += exc.requests
            report.refused = exc.refused
            self._failed(str(exc), report, now)
            return False
        report.requests += got.requests
        if not got.complete:
            return False  # the range is stored whole or not at all: its rows belong together
        changed = self.store.put(reader.tool, got.rows, now=now)
        self._emit(reader.tool, changed, attribution, now)
        report.rows += len(changed)
        return True

    def _token(self) -> str:
        try:
            secrets = load_secrets(SECRETS_ENTRY, environ=self.environ)
        except SecretsError as exc:
            raise SiteError(f"the analytics token cannot be read: {exc}", requests=0) from None
        token = secrets.get(TOKEN_KEY, "")
        if not token:
            raise SiteError(
                f"no analytics token: store it as the secret {SECRETS_ENTRY} › {TOKEN_KEY} "
                f"({env_name(SECRETS_ENTRY, TOKEN_KEY)}; see docs/analytics.md)",
                requests=0,
            )
        if self.on_secrets is not None:
            self.on_secrets([token])
        return token

    def _emit(
        self, tool: str, rows: Sequence[SiteRow], attribution: Attribution, now: datetime
    ) -> None:
        for row in rows:
            delivery = attribution.delivery_of(row.campaign, row.source)
            self.events.emit(
                "visits",
                delivery=delivery,
                now=now,
                post=None if delivery else attribution.post_of(row.campaign),
                tool=tool,
                campaign=row.campaign,
                source=row.source,
                day=row.day.isoformat(),
                visits=row.visits,
                visitors=row.visitors,
                goals=row.goals,
            )

    def _failed(self, message: str, report: VisitsReport, now: datetime) -> None:
        until = now + ERROR_PAUSE
        log.warning("visits: %s; trying again after %s", message, until.isoformat())
        report.error = report.why = message
        report.waiting = until
        self.marks.set_mark(_WAIT, until.isoformat(), now=now)
        self.marks.set_mark(_REASON, message, now=now)
