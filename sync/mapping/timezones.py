"""Time-zone names: resolve IANA or Windows names, and tell which side can represent a zone.

Exchange identifies zones by Windows id (exchangelib converts via CLDR's windowsZones table); Salesforce by
``TimeZoneSidKey``, which is a fixed list of IANA region names. The neutral model uses IANA names.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

_UTC_NAMES = {"utc", "etc/utc", "gmt", "etc/gmt", "z", "zulu", "etc/zulu", "universal", "etc/universal"}
# Salesforce TimeZoneSidKey values are region/city names (plus GMT); legacy aliases such as "US/Pacific",
# "EST" or "Etc/GMT+5" are not accepted there.
_SALESFORCE_REGIONS = (
    "Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/",
)  # fmt: skip


@lru_cache(maxsize=512)
def canonical_time_zone(name: str | None) -> str | None:
    """The IANA name for an IANA or Windows zone name; ``None`` if unknown."""
    if not name or not isinstance(name, str):
        return None
    name = name.strip()
    if name.lower() in _UTC_NAMES:
        return "UTC"
    if name in MS_TIMEZONE_TO_IANA_MAP:
        iana = MS_TIMEZONE_TO_IANA_MAP[name]
        return "UTC" if iana.lower() in _UTC_NAMES else iana
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


def zone(name: str) -> zoneinfo.ZoneInfo:
    """ZoneInfo for a name `canonical_time_zone` accepted."""
    canonical = canonical_time_zone(name)
    if canonical is None:
        raise zoneinfo.ZoneInfoNotFoundError(name)
    return zoneinfo.ZoneInfo(canonical)


def exchange_supports(name: str) -> bool:
    canonical = canonical_time_zone(name)
    return canonical is not None and (canonical == "UTC" or canonical in IANA_TO_MS_TIMEZONE_MAP)


def salesforce_supports(name: str) -> bool:
    canonical = canonical_time_zone(name)
    return canonical is not None and (canonical == "UTC" or canonical.startswith(_SALESFORCE_REGIONS))


def day_start(day: date, name: str) -> datetime:
    """The first instant (UTC) of ``day`` in zone ``name``: its local midnight, or, where the zone skips
    midnight (a DST change at 00:00, as in America/Santiago or Asia/Beirut), the instant the day begins."""
    tz = zone(name)
    # zoneinfo reads a skipped wall time with the offset before the gap: 00:00 then is the gap's first
    # instant, which is when the day starts. A repeated midnight (fold 0) is its first occurrence.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_day(instant: datetime, name: str, *, is_end: bool) -> date:
    """The calendar day an all-day bound stands for in zone ``name``: a start is the day it falls in; an end
    (exclusive) is the day that starts at it, or the next day when it falls inside a day. Days are taken
    from local midnights, never from fixed lengths: local days last 23, 24 or 25 hours."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    day = instant.astimezone(zone(name)).date()
    if is_end and instant.astimezone(UTC) > day_start(day, name):
        day += timedelta(days=1)
    return day
