"""Time-zone names: resolve IANA or Windows names, and tell which side can represent a zone.

Exchange identifies zones by Windows id (exchangelib converts via CLDR's windowsZones table); Salesforce by
``TimeZoneSidKey``, which is a fixed list of IANA region names. The neutral model uses IANA names.
"""

from __future__ import annotations

import zoneinfo
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
