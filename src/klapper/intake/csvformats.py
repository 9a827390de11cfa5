"""Another tool's bulk-scheduling CSV -> rows: Hootsuite, Publer, SocialBee and Buffer.

Each format is data: which header names mean the date, the text, the link, the image URLs
(docs/import.md says where each comes from). Hootsuite's file has no header: date and time,
message, an optional link, with the date format the user picked at upload (``--date-format``).
A row that cannot be read becomes a ``Refused`` naming its first line; the rest go on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

FORMATS = ("hootsuite", "publer", "socialbee", "buffer")

#: Hootsuite's bulk composer lets the user pick the order of day and month; its sample file
#: and the upload form's default are month first, 24-hour time.
HOOTSUITE_DEFAULT = "%m/%d/%Y %H:%M"
#: the spellings Hootsuite's upload form shows, for users who copy them
_NAMED = {
    "mm/dd/yyyy hh:mm": "%m/%d/%Y %H:%M",
    "dd/mm/yyyy hh:mm": "%d/%m/%Y %H:%M",
    "mm/dd/yyyy": "%m/%d/%Y %H:%M",
    "dd/mm/yyyy": "%d/%m/%Y %H:%M",
}
#: what the header formats document (YYYY-MM-DD HH:MM, Publer's YYYY/MM/DD, SocialBee's seconds)
_HEADER_DATES = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")


@dataclass(frozen=True)
class Columns:
    """Header names (normalised: lower case, letters and digits only, "(...)" dropped)."""

    text: frozenset[str]
    date: frozenset[str] = frozenset()
    link: frozenset[str] = frozenset()
    images: frozenset[str] = frozenset()
    alts: frozenset[str] = frozenset()
    videos: frozenset[str] = frozenset()  # klapper posts images only: a filled one is refused


_COLUMNS = {
    "publer": Columns(
        text=frozenset({"text", "message"}),
        date=frozenset({"date"}),
        link=frozenset({"link", "links"}),
        images=frozenset({"mediaurl", "mediaurls"}),
        alts=frozenset({"alttext", "alttexts"}),
    ),
    "socialbee": Columns(
        text=frozenset({"text", "content"}),
        date=frozenset({"postatspecifictime"}),
        link=frozenset({"link"}),
        images=frozenset({"imageurls", "gifurls", "gifurl"}),
        videos=frozenset({"videourls"}),
    ),
    "buffer": Columns(
        text=frozenset({"text"}),
        date=frozenset({"postingtime", "scheduledat"}),
        link=frozenset({"link"}),
        images=frozenset({"imageurl", "imageurls"}),
    ),
}


class CsvFormatError(Exception):
    """The file cannot be read (further) as the format says: ``line`` is where it stopped."""

    def __init__(self, line: int, message: str, *, whole: bool = False) -> None:
        super().__init__(message)
        self.line, self.whole = line, whole  # whole: nothing at all could be read


@dataclass(frozen=True)
class Row:
    """One post as another tool wrote it; ``at`` naive means klapper.yaml's time zone."""

    line: int
    at: datetime | None  # None: the next free posting slot
    text: str
    link: str
    images: tuple[str, ...]
    alts: tuple[str, ...]


@dataclass(frozen=True)
class Refused:
    line: int
    reason: str


def date_format(written: str | None, *, fmt: str) -> str | None:
    """The strptime format for --date-format (a % format or Hootsuite's spelling); ValueError."""
    if written is None:
        return HOOTSUITE_DEFAULT if fmt == "hootsuite" else None
    if "%" in written:
        return written
    named = _NAMED.get(written.strip().lower())
    if named is None:
        raise ValueError(
            f"--date-format {written!r}: write a strftime format such as "
            f"'%d/%m/%Y %H:%M', or one of {', '.join(sorted(_NAMED))}"
        )
    return named


def _norm(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"\(.*?\)", "", header.lower()))


def _urls(cell: str) -> tuple[str, ...]:
    return tuple(u for u in re.split(r"[,\s]+", cell.strip()) if u)


def _alts(cell: str, count: int) -> tuple[str, ...]:
    # One image: the whole cell is its alt text (commas and all); several: "||" between them.
    if not cell.strip():
        return ()
    if count <= 1:
        return (cell.strip(),)
    return tuple(part.strip() for part in cell.split("||"))


def _parse_date(value: str, strptime: str | None) -> datetime:
    text = value.strip()
    if strptime is not None:
        try:
            return datetime.strptime(text, strptime)
        except ValueError:
            raise ValueError(
                f"date {text!r} does not match the date format {strptime!r} (--date-format)"
            ) from None
    for candidate in _HEADER_DATES:
        try:
            return datetime.strptime(text, candidate)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"date {text!r} is not a date and time such as 2026-12-01 09:00 (or give --date-format)"
        ) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError(start, f"{exc}; the rest of the file was not read") from None
        if any(cell.strip() for cell in cells):
            yield start, cells
        start = reader.line_num + 1


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _hootsuite(text: str, strptime: str | None) -> Iterator[Row | Refused]:
    for line, cells in _records(text):
        if len(cells) not in (2, 3):
            yield Refused(
                line,
                f"a Hootsuite row has 2 or 3 columns (date and time, message, "
                f"link); this one has {len(cells)}",
            )
            continue
        try:
            at = _parse_date(cells[0], strptime)
        except ValueError as exc:
            yield Refused(line, str(exc))
            continue
        link = cells[2].strip() if len(cells) == 3 else ""
        yield Row(line, at, _clean(cells[1]), link, (), ())


def _find(header: list[str], names: frozenset[str]) -> list[int]:
    return [index for index, name in enumerate(header) if _norm(name) in names]


def _with_header(text: str, fmt: str, strptime: str | None) -> Iterator[Row | Refused]:
    columns = _COLUMNS[fmt]
    records = _records(text)
    first = next(records, None)
    if first is None:
        return
    header = first[1]
    texts = _find(header, columns.text)
    if not texts:
        found = ", ".join(repr(h) for h in header[:8])
        raise CsvFormatError(
            first[0], f"no text column for {fmt} (found {found}); is --format right?", whole=True
        )
    dates, links = _find(header, columns.date), _find(header, columns.link)
    images, alts = _find(header, columns.images), _find(header, columns.alts)
    videos = _find(header, columns.videos)

    def cell(cells: list[str], indexes: list[int]) -> str:
        return ",".join(cells[i] for i in indexes if i < len(cells) and cells[i].strip())

    for line, cells in records:
        if cell(cells, videos):
            yield Refused(line, "this row has a video; klapper posts images only")
            continue
        try:
            date = cell(cells, dates)
            at = _parse_date(date, strptime) if date else None
        except ValueError as exc:
            yield Refused(line, str(exc))
            continue
        urls = _urls(cell(cells, images))
        yield Row(
            line,
            at,
            _clean(cell(cells, texts)),
            cell(cells, links).strip(),
            urls,
            _alts(cell(cells, alts), len(urls)),
        )


def read_rows(*, text: str, fmt: str, strptime: str | None) -> Iterator[Row | Refused]:
    """Every row of a CSV file of format ``fmt`` (see FORMATS); CsvFormatError if unreadable."""
    if fmt == "hootsuite":
        return _hootsuite(text, strptime)
    return _with_header(text, fmt, strptime)
