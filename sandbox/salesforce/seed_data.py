"""Seed data of the Salesforce sandbox.

``empty``: the Users, Accounts, Contacts and Leads of ``sandbox.seed`` (fixed ids, shared with the other
sandboxes). ``demo`` adds, for every rep, a realistic calendar relative to today: meetings over the past two
weeks and the next four (Contacts and Leads as WhoId, Accounts and Opportunities as WhatId, invitees as
EventRelation), all-day events, a private appointment, a weekly recurring series, Tasks, Opportunities and
records of the custom objects ``Site_Visit__c`` and ``Renewal__c``.

Demo records are created through ``Store.create`` so they pass the same validation as API writes; a
``random.Random`` with a constant seed makes the data the same on every start of the same day.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from sandbox.salesforce.grants import INTEGRATION_USER
from sandbox.salesforce.schema import OBJECTS
from sandbox.salesforce.store import Store
from sandbox.seed import ACCOUNTS, PEOPLE, REPS, Rep

SEEDS = ("demo", "empty")
RANDOM_SEED = 20261123

_MEETINGS = (
    "Discovery call",
    "Product demo",
    "Quarterly business review",
    "Contract negotiation",
    "Pricing follow-up",
    "Onboarding session",
    "Technical deep dive",
    "Executive briefing",
    "Renewal discussion",
    "Lunch meeting",
)
_LOCATIONS = ("Zoom", "Microsoft Teams", "Customer office", "Our office, room 4.2", None)
_TASKS = (
    ("Send proposal", "Not Started", "High"),
    ("Follow up on pricing questions", "In Progress", "Normal"),
    ("Prepare QBR slides", "Not Started", "Normal"),
    ("Log call notes", "Completed", "Low"),
    ("Send contract for signature", "Waiting on someone else", "High"),
    ("Update opportunity forecast", "Completed", "Normal"),
)


def _at(day: dt.date, hour: int, minute: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tz).astimezone(dt.UTC)


def _backdate(store: Store, obj_name: str, record_id: str, when: dt.datetime) -> None:
    """Seeded records look like they were made in the past (inside the getUpdated window)."""
    record = store.tables[obj_name][record_id]
    stamp = when.replace(microsecond=0)
    record.update(CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp)


# Roles and profiles of the org (every rep starts as a field sales rep with the standard profile); tests move a
# rep to another role to exercise calsync's policy-profile rules.
ROLES: tuple[tuple[str, str], ...] = (
    ("00E000000000000001", "Field Sales"),
    ("00E000000000000002", "Events Team"),
    ("00E000000000000003", "Executive"),
)
PROFILES: tuple[tuple[str, str], ...] = (
    ("00e000000000000001", "Standard User"),
    ("00e000000000000002", "System Administrator"),
)


def seed_people(store: Store, now: dt.datetime) -> None:
    long_ago = (now - dt.timedelta(days=400)).replace(microsecond=0)
    system = {"CreatedDate": long_ago, "LastModifiedDate": long_ago, "SystemModstamp": long_ago}
    admin = REPS[0].salesforce_user_id
    for role_id, name in ROLES:
        store.insert_seed(OBJECTS["UserRole"], {"Id": role_id, "Name": name, "CreatedById": admin,
                                                "LastModifiedById": admin, **system})  # fmt: skip
    for profile_id, name in PROFILES:
        store.insert_seed(OBJECTS["Profile"], {"Id": profile_id, "Name": name, "CreatedById": admin,
                                               "LastModifiedById": admin, **system})  # fmt: skip
    for rep in REPS:
        store.insert_seed(
            OBJECTS["User"],
            {
                "Id": rep.salesforce_user_id,
                "Username": rep.email,
                "FirstName": rep.first_name,
                "LastName": rep.last_name,
                "Name": rep.name,
                "Email": rep.email,
                "Alias": (rep.first_name[0] + rep.last_name)[:8].lower(),
                "IsActive": True,
                "TimeZoneSidKey": rep.timezone,
                "Title": "Account Executive",
                "Department": "Field Sales",
                "UserRoleId": ROLES[0][0],
                "ProfileId": PROFILES[0][0],
                "CreatedById": admin,
                "LastModifiedById": admin,
                **system,
            },
        )
    # The API-only user that server-to-server sessions (JWT bearer, client credentials) run as.
    store.insert_seed(
        OBJECTS["User"],
        {"Id": INTEGRATION_USER.user_id, "Username": INTEGRATION_USER.username,
         "FirstName": INTEGRATION_USER.first_name, "LastName": INTEGRATION_USER.last_name,
         "Name": INTEGRATION_USER.name, "Email": INTEGRATION_USER.username,
         "Alias": "integ", "IsActive": True, "TimeZoneSidKey": "UTC", "Title": "Integration",
         "CreatedById": admin, "LastModifiedById": admin, **system},
    )  # fmt: skip
    account_ids = {}
    for i, (account_id, name) in enumerate(ACCOUNTS):
        account_ids[name] = account_id
        owner = REPS[i % len(REPS)].salesforce_user_id
        store.insert_seed(
            OBJECTS["Account"],
            {
                "Id": account_id,
                "Name": name,
                "Type": "Customer" if i < 2 else "Prospect",
                "Industry": ("Manufacturing", "Energy", "Technology")[i % 3],
                "BillingCity": ("Phoenix", "Springfield", "Austin")[i % 3],
                "OwnerId": owner,
                "CreatedById": owner,
                "LastModifiedById": owner,
                **system,
            },
        )
    for i, person in enumerate(PEOPLE):
        owner = REPS[i % len(REPS)].salesforce_user_id
        fields = {
            "Id": person.salesforce_id,
            "FirstName": person.first_name,
            "LastName": person.last_name,
            "Name": f"{person.first_name} {person.last_name}",
            "Email": person.email,
            "OwnerId": owner,
            "CreatedById": owner,
            "LastModifiedById": owner,
            **system,
        }
        if person.kind == "Contact":
            fields["AccountId"] = account_ids.get(person.account or "")
            fields["Title"] = ("VP Operations", "Buyer", "CTO", "Director of IT")[i % 4]
        else:
            fields["Company"] = "Prospect Inc."
            fields["Status"] = "Working - Contacted"
        store.insert_seed(OBJECTS[person.kind], fields)


def seed_demo(store: Store, now: dt.datetime) -> None:
    rng = random.Random(RANDOM_SEED)
    today = now.date()
    contacts = [p for p in PEOPLE if p.kind == "Contact"]
    leads = [p for p in PEOPLE if p.kind == "Lead"]
    account_by_name = {name: account_id for account_id, name in ACCOUNTS}

    def created(obj_name: str, values: dict, owner: Rep, days_ago: float) -> str:
        obj = OBJECTS[obj_name]
        if "OwnerId" in obj.fields:
            values = {**values, "OwnerId": owner.salesforce_user_id}
        record = store.create(obj, values, owner.salesforce_user_id)
        _backdate(store, obj_name, record["Id"], now - dt.timedelta(days=days_ago))
        return record["Id"]

    opportunities: dict[str, list[str]] = {}
    for i, (account_id, name) in enumerate(ACCOUNTS):
        for j, (label, stage) in enumerate(
            (("Platform expansion", "Proposal/Price Quote"), ("Renewal", "Qualification"))
        ):
            owner = REPS[(i + j) % len(REPS)]
            opp = created(
                "Opportunity",
                {
                    "Name": f"{name} - {label}",
                    "AccountId": account_id,
                    "StageName": stage,
                    "CloseDate": (today + dt.timedelta(days=30 + 15 * j + 7 * i)).isoformat(),
                    "Amount": float(25_000 + 10_000 * i + 5_000 * j),
                },
                owner,
                25,
            )
            opportunities.setdefault(account_id, []).append(opp)

    for r, rep in enumerate(REPS):
        tz = ZoneInfo(rep.timezone)
        events: list[str] = []
        # Meetings on weekdays from two weeks back to four weeks ahead.
        for offset in range(-14, 29):
            day = today + dt.timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            hours = sorted(rng.sample((9, 10, 11, 13, 14, 15, 16), rng.choice((0, 1, 1, 2))))
            for hour in hours:
                person = rng.choice(contacts + leads)
                start = _at(day, hour, rng.choice((0, 30)), tz)
                what = None
                if person.kind == "Contact":
                    account_id = account_by_name[person.account or ""]
                    what = rng.choice([account_id, *opportunities[account_id]])
                subject = rng.choice(_MEETINGS)
                values = {
                    "Subject": f"{subject} with {person.first_name} {person.last_name}",
                    "StartDateTime": start.isoformat(),
                    "DurationInMinutes": rng.choice((30, 45, 60, 60, 90)),
                    "Location": rng.choice(_LOCATIONS),
                    "Description": f"{subject}. Agenda: goals, open questions, next steps.",
                    "ShowAs": "Busy",
                    "Type": rng.choice(("Meeting", "Meeting", "Call")),
                    "WhoId": person.salesforce_id,
                    "WhatId": what,
                }
                events.append(created("Event", values, rep, max(0.5, min(20, -offset + 3))))
        # Invitees on some meetings: another contact or a colleague.
        for event_id in events[::3]:
            invitee = rng.choice(
                [*(p.salesforce_id for p in contacts), *(o.salesforce_user_id for o in REPS if o != rep)]
            )
            created(
                "EventRelation",
                {"EventId": event_id, "RelationId": invitee, "Status": rng.choice(("New", "Accepted", "Declined"))},
                rep,
                5,
            )
        monday = today - dt.timedelta(days=today.weekday() + 7)
        created(
            "Event",
            {
                "Subject": "Weekly pipeline review",
                "StartDateTime": _at(monday, 8, 30, tz).isoformat(),
                "DurationInMinutes": 30,
                "Location": "Microsoft Teams",
                "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=8",
                "ShowAs": "Busy",
                "Type": "Meeting",
            },
            rep,
            12,
        )
        created(
            "Event",
            {
                "Subject": "Sales kickoff",
                "IsAllDayEvent": True,
                "ActivityDate": (today + dt.timedelta(days=10 + r)).isoformat(),
                "DurationInMinutes": 2 * 1440,
                "Location": "Lisbon",
                "ShowAs": "OutOfOffice",
            },
            rep,
            9,
        )
        created(
            "Event",
            {
                "Subject": "Customer site day",
                "IsAllDayEvent": True,
                "ActivityDate": (today - dt.timedelta(days=3 + r)).isoformat(),
                "ShowAs": "Free",
                "WhatId": ACCOUNTS[r % len(ACCOUNTS)][0],
            },
            rep,
            8,
        )
        created(
            "Event",
            {
                "Subject": "Doctor appointment",
                "StartDateTime": _at(today + dt.timedelta(days=2 + r), 8, 0, tz).isoformat(),
                "DurationInMinutes": 60,
                "IsPrivate": True,
                "ShowAs": "OutOfOffice",
            },
            rep,
            6,
        )
        for t, (subject, status, priority) in enumerate(_TASKS):
            person = contacts[(r + t) % len(contacts)]
            due = today + dt.timedelta(days=(-5, 3, 7, -2, 1, -8)[t])
            values = {
                "Subject": f"{subject} ({person.account})",
                "Status": status,
                "Priority": priority,
                "ActivityDate": due.isoformat() if t != 2 or r % 2 == 0 else None,
                "WhoId": person.salesforce_id,
                "WhatId": account_by_name[person.account or ""],
                "Description": f"{subject} for {person.first_name} {person.last_name}.",
            }
            if t == 0:
                values["ReminderDateTime"] = _at(due, 9, 0, tz).isoformat()
            created("Task", values, rep, 10 - t)
        for v, offset in enumerate((-6, 5 + r)):
            account_id, account_name = ACCOUNTS[(r + v) % len(ACCOUNTS)]
            start = _at(today + dt.timedelta(days=offset), 10, 0, tz)
            created(
                "Site_Visit__c",
                {
                    "Name": f"Site visit: {account_name}",
                    "Visit_Start__c": start.isoformat(),
                    "Visit_End__c": (start + dt.timedelta(hours=3)).isoformat(),
                    "Notes__c": "Walk the production floor; meet the operations team.",
                    "Account__c": account_id,
                },
                rep,
                14,
            )
        for v, offset in enumerate((12 + r, 40 + r)):
            account_id, account_name = ACCOUNTS[(r + v + 1) % len(ACCOUNTS)]
            created(
                "Renewal__c",
                {
                    "Name": f"{account_name} renewal {today.year + v}",
                    "Renewal_Date__c": (today + dt.timedelta(days=offset)).isoformat(),
                    "Amount__c": float(12_000 + 3_000 * v),
                    "Account__c": account_id,
                },
                rep,
                18,
            )


def build(store: Store, seed: str) -> None:
    if seed not in SEEDS:
        raise ValueError(f"unknown Salesforce sandbox seed {seed!r}; expected one of {', '.join(SEEDS)}")
    now = store.now()
    seed_people(store, now)
    if seed == "demo":
        seed_demo(store, now)
