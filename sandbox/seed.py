"""The people every sandbox knows about, so Salesforce, Exchange and the identity provider agree.

Ids are fixed so that tests, the demo and the info file can name them. Each sandbox builds its own records
(Salesforce Users/Contacts/..., Exchange mailboxes and calendars, identity subjects) from this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ORG_ID = "00D5g00000CALSYNC"
DOMAIN = "calsync.example"
# Exchange service account allowed to impersonate every mailbox.
SERVICE_ACCOUNT = ("svc-calsync@calsync.example", "svc-password")


@dataclass(frozen=True)
class Rep:
    """A sales rep: a Salesforce User, an Exchange mailbox and an identity-provider subject."""

    email: str
    first_name: str
    last_name: str
    salesforce_user_id: str
    password: str
    timezone: str
    object_id: str  # the Entra `oid` claim
    # Exchange Online (reachable through EWS and Microsoft Graph) or an on-premises Exchange (EWS only).
    exchange_online: bool = True

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Person:
    """An external person: a Salesforce Contact or Lead that meetings may invite."""

    email: str
    first_name: str
    last_name: str
    salesforce_id: str
    kind: str  # "Contact" or "Lead"
    account: str | None = None  # Account name for Contacts


def _rep(n: int, first: str, last: str, tz: str, exchange_online: bool = True) -> Rep:
    return Rep(
        email=f"{first.lower()}.{last.lower()}@{DOMAIN}",
        first_name=first,
        last_name=last,
        salesforce_user_id=f"005{n:015d}"[:18],
        password=f"{first.lower()}-password",
        timezone=tz,
        object_id=f"00000000-0000-4000-8000-{n:012d}",
        exchange_online=exchange_online,
    )


REPS: tuple[Rep, ...] = (
    _rep(1, "Alice", "Archer", "Europe/London"),
    _rep(2, "Bob", "Baker", "America/New_York"),
    _rep(3, "Carol", "Chen", "Europe/Berlin"),
    _rep(4, "Dan", "Diaz", "America/Los_Angeles", exchange_online=False),  # on premises: EWS only
)

# More reps for load and soak runs (tests/soak/): ``CALSYNC_SANDBOX_REPS`` is the roster's size (default: the four
# above). Read once at import, in every process that runs or reads the sandboxes, so the three sandboxes agree;
# the extra reps are "Soak RepNN" (soak.repNN@calsync.example), every fourth on premises (EWS only).
MAX_REPS = 50  # ids 005…0NN; 99 is the integration user
EXTRA_ZONES = ("Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")


def _roster_size(raw: str | None) -> int:
    if not raw:
        return len(REPS)
    if not raw.isdigit() or not len(REPS) <= int(raw) <= MAX_REPS:
        raise ValueError(f"CALSYNC_SANDBOX_REPS must be a number from {len(REPS)} to {MAX_REPS}, not {raw!r}")
    return int(raw)


REPS += tuple(
    _rep(n, "Soak", f"Rep{n:02d}", EXTRA_ZONES[n % len(EXTRA_ZONES)], exchange_online=n % 4 != 0)
    for n in range(len(REPS) + 1, _roster_size(os.environ.get("CALSYNC_SANDBOX_REPS")) + 1)
)

ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("001000000000000001", "Acme Corporation"),
    ("001000000000000002", "Globex Ltd"),
    ("001000000000000003", "Initech"),
)

PEOPLE: tuple[Person, ...] = (
    Person("wile.coyote@acme.test", "Wile", "Coyote", "003000000000000001", "Contact", "Acme Corporation"),
    Person("road.runner@acme.test", "Road", "Runner", "003000000000000002", "Contact", "Acme Corporation"),
    Person("hank.scorpio@globex.test", "Hank", "Scorpio", "003000000000000003", "Contact", "Globex Ltd"),
    Person("bill.lumbergh@initech.test", "Bill", "Lumbergh", "003000000000000004", "Contact", "Initech"),
    Person("peter.gibbons@prospect.test", "Peter", "Gibbons", "00Q000000000000001", "Lead"),
    Person("joanna.smith@prospect.test", "Joanna", "Smith", "00Q000000000000002", "Lead"),
)


def rep_by_email(email: str) -> Rep | None:
    email = email.lower()
    return next((r for r in REPS if r.email == email), None)
