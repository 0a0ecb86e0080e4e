"""The sandbox org's objects and fields, declared once: describe, write validation and SOQL all read this.

Each object is a table of ``Field`` entries (type, length, required, picklist, reference). The field lists
follow the Object Reference (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
object_reference/) for the fields calsync uses; fields an org has but the sync never touches are left out.
Custom objects and the ``CalSync_Key__c`` external-id fields are what an admin installs with the package.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.errors import ApiError

API_VERSION = "59.0"

# Types that hold text (compared case-insensitively in SOQL, checked against ``length`` on write).
TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "combobox"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    length: int = 0
    # ``required`` = not nillable on create (REQUIRED_FIELD_MISSING unless a default fills it).
    required: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    default: Any = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    custom: bool = False
    precision: int = 0
    scale: int = 0
    name_field: bool = False

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in {"boolean", "id"}

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1

    @property
    def system(self) -> bool:
        """Read-only everywhere: set by the server (or derived from other fields)."""
        return not self.createable and not self.updateable

    def describe(self) -> dict[str, Any]:
        text = self.type in TEXT_TYPES or self.type in ID_TYPES
        length = self.length if text else 0
        if self.type in ID_TYPES:
            length = 18
        return {
            "aggregatable": self.type != "textarea",
            "autoNumber": False,
            "byteLength": length * 3,
            "calculated": False,
            "caseSensitive": False,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default,
            "defaultedOnCreate": self.default is not None or self.system or self.type == "boolean",
            "dependentPicklist": False,
            "digits": 9 if self.type == "int" else 0,
            "externalId": self.external_id,
            "filterable": self.type != "textarea" or self.length <= 255,
            "groupable": self.type not in {"textarea", "datetime", "double", "currency", "percent"},
            "idLookup": self.name == "Id" or self.external_id,
            "label": self.label,
            "length": length,
            "name": self.name,
            "nameField": self.name_field,
            "nillable": self.nillable,
            "picklistValues": [
                {"active": True, "defaultValue": v == self.default, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "polymorphicForeignKey": self.polymorphic,
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.type == "picklist",
            "scale": self.scale,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type != "textarea" or self.length <= 255,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }


@dataclass
class SObject:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, Field]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    replicateable: bool = True
    by_lower: dict[str, Field] = field(init=False)
    relationships: dict[str, Field] = field(init=False)

    def __post_init__(self) -> None:
        self.by_lower = {name.lower(): f for name, f in self.fields.items()}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name is not None
        }

    def field(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    def urls(self, version: str = API_VERSION) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "describe": f"{base}/describe",
            "sobject": base,
        }

    def describe_summary(self, version: str = API_VERSION) -> dict[str, Any]:
        return {
            "activateable": False,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": False,
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": self.replicateable,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }

    def describe(self, version: str = API_VERSION) -> dict[str, Any]:
        result = self.describe_summary(version)
        result.update(
            {
                "childRelationships": [
                    {
                        "cascadeDelete": child.name == "EventRelation",
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "relationshipName": _child_relationship_name(child.name, f.name),
                        "restrictedDelete": False,
                    }
                    for child in OBJECTS.values()
                    for f in child.fields.values()
                    if self.name in f.reference_to and f.name not in {"CreatedById", "LastModifiedById"}
                ],
                "fields": [f.describe() for f in self.fields.values()],
                "recordTypeInfos": [],
                "supportedScopes": [
                    {"label": "My records", "name": "mine"},
                    {"label": "All records", "name": "everything"},
                ],
            }
        )
        return result


def _child_relationship_name(child: str, field_name: str) -> str | None:
    known = {
        ("Event", "WhoId"): "Events",
        ("Event", "WhatId"): "Events",
        ("Task", "WhoId"): "Tasks",
        ("Task", "WhatId"): "Tasks",
        ("EventRelation", "EventId"): "EventRelations",
        ("Contact", "AccountId"): "Contacts",
        ("Opportunity", "AccountId"): "Opportunities",
    }
    return known.get((child, field_name))


# -- field builders ---------------------------------------------------------------------------------------
def _text(name: str, label: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, kw.pop("type", "string"), label, length=length, **kw)


def _ref(name: str, label: str, to: tuple[str, ...], relationship: str | None, **kw: Any) -> Field:
    return Field(name, "reference", label, reference_to=to, relationship_name=relationship, **kw)


def _ro(name: str, type_: str, label: str, **kw: Any) -> Field:
    return Field(name, type_, label, createable=False, updateable=False, **kw)


def _system_fields() -> list[Field]:
    return [
        _ro("IsDeleted", "boolean", "Deleted"),
        _ro("CreatedDate", "datetime", "Created Date"),
        _ro("CreatedById", "reference", "Created By ID", reference_to=("User",), relationship_name="CreatedBy"),
        _ro("LastModifiedDate", "datetime", "Last Modified Date"),
        _ro(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            reference_to=("User",),
            relationship_name="LastModifiedBy",
        ),
        _ro("SystemModstamp", "datetime", "System Modstamp"),
    ]


def _owner() -> Field:
    # Optional on create: the running user becomes the owner (like the real API).
    return _ref("OwnerId", "Owner ID", ("User",), "Owner")


def _object(
    name: str, label: str, plural: str, prefix: str, fields: list[Field], *, custom: bool = False, **kw: Any
) -> SObject:
    all_fields = [_ro("Id", "id", f"{label} ID"), *fields, *_system_fields()]
    return SObject(name, label, plural, prefix, {f.name: f for f in all_fields}, custom=custom, **kw)


# Targets of the polymorphic activity lookups (objects with "Allow Activities").
WHO_TARGETS = ("Contact", "Lead")
WHAT_TARGETS = ("Account", "Opportunity", "Site_Visit__c", "Renewal__c")
SHOW_AS = ("Busy", "OutOfOffice", "Free")
EVENT_TYPES = ("Call", "Email", "Meeting", "Other")
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
CLOSED_TASK_STATUSES = frozenset({"Completed"})
TASK_PRIORITIES = ("High", "Normal", "Low")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
RELATION_STATUSES = ("New", "Accepted", "Declined")
CALSYNC_KEY = "CalSync_Key__c"


def _calsync_key() -> Field:
    return _text(CALSYNC_KEY, "CalSync Key", 64, external_id=True, unique=True, custom=True)


def _build_objects() -> dict[str, SObject]:
    objects = [
        _object(
            "User",
            "User",
            "Users",
            "005",
            [
                _text("Username", "Username", 80, required=True),
                _text("FirstName", "First Name", 40),
                _text("LastName", "Last Name", 80, required=True),
                _ro("Name", "string", "Full Name", length=121, name_field=True),
                _text("Email", "Email", 128, type="email", required=True),
                _text("Alias", "Alias", 8, required=True),
                Field("IsActive", "boolean", "Active", default=True),
                _text("TimeZoneSidKey", "Time Zone", 40, required=True),
                _text("Title", "Title", 80),
                _text("Phone", "Phone", 40, type="phone"),
                _text("Department", "Department", 80),
                # Role and profile: what calsync's policy-profile rules match on (docs/policies.md#profiles).
                _ref("UserRoleId", "Role ID", ("UserRole",), "UserRole"),
                _ref("ProfileId", "Profile ID", ("Profile",), "Profile"),
            ],
            createable=False,
            updateable=False,
            deletable=False,
        ),
        _object(
            "UserRole",
            "Role",
            "Roles",
            "00E",
            [_text("Name", "Name", 80, required=True, name_field=True)],
            createable=False,
            updateable=False,
            deletable=False,
        ),
        _object(
            "Profile",
            "Profile",
            "Profiles",
            "00e",
            [_text("Name", "Name", 255, required=True, name_field=True)],
            createable=False,
            updateable=False,
            deletable=False,
        ),
        _object(
            "Account",
            "Account",
            "Accounts",
            "001",
            [
                _text("Name", "Account Name", 255, required=True, name_field=True),
                _text("Type", "Account Type", 255, type="picklist", picklist=("Prospect", "Customer", "Partner")),
                _text("Industry", "Industry", 255),
                _text("Phone", "Account Phone", 40, type="phone"),
                _text("Website", "Website", 255, type="url"),
                _text("BillingCity", "Billing City", 40),
                _text("Description", "Account Description", 32000, type="textarea"),
                _owner(),
            ],
        ),
        _object(
            "Contact",
            "Contact",
            "Contacts",
            "003",
            [
                _text("FirstName", "First Name", 40),
                _text("LastName", "Last Name", 80, required=True),
                _ro("Name", "string", "Full Name", length=121, name_field=True),
                _text("Email", "Email", 80, type="email"),
                _text("Phone", "Business Phone", 40, type="phone"),
                _text("Title", "Title", 128),
                _ref("AccountId", "Account ID", ("Account",), "Account"),
                _owner(),
            ],
        ),
        _object(
            "Lead",
            "Lead",
            "Leads",
            "00Q",
            [
                _text("FirstName", "First Name", 40),
                _text("LastName", "Last Name", 80, required=True),
                _ro("Name", "string", "Full Name", length=121, name_field=True),
                _text("Company", "Company", 255, required=True),
                _text("Email", "Email", 80, type="email"),
                _text("Phone", "Phone", 40, type="phone"),
                _text("Title", "Title", 128),
                _text("Status", "Status", 255, type="picklist", picklist=LEAD_STATUSES, default=LEAD_STATUSES[0]),
                Field("IsConverted", "boolean", "Converted", default=False),
                _owner(),
            ],
        ),
        _object(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            "006",
            [
                _text("Name", "Name", 120, required=True, name_field=True),
                _ref("AccountId", "Account ID", ("Account",), "Account"),
                _text("StageName", "Stage", 255, type="picklist", picklist=OPPORTUNITY_STAGES, required=True),
                Field("CloseDate", "date", "Close Date", required=True),
                Field("Amount", "currency", "Amount", precision=18, scale=2),
                Field("Probability", "percent", "Probability (%)", precision=3, scale=0),
                _ro("IsClosed", "boolean", "Closed"),
                _ro("IsWon", "boolean", "Won"),
                _text("Description", "Description", 32000, type="textarea"),
                _owner(),
            ],
        ),
        _object(
            "Event",
            "Event",
            "Events",
            "00U",
            [
                _text("Subject", "Subject", 255, type="combobox", name_field=True),
                Field("StartDateTime", "datetime", "Start Date Time"),
                Field("EndDateTime", "datetime", "End Date Time"),
                Field("ActivityDateTime", "datetime", "Due Date Time"),
                Field("ActivityDate", "date", "Due Date Only"),
                _ro("EndDate", "date", "End Date"),
                Field("DurationInMinutes", "int", "Duration"),
                Field("IsAllDayEvent", "boolean", "All-Day Event", default=False),
                _text("Location", "Location", 255),
                _text("Description", "Description", 32000, type="textarea"),
                _text("ShowAs", "Show Time As", 40, type="picklist", picklist=SHOW_AS, default="Busy"),
                _text("Type", "Type", 40, type="picklist", picklist=EVENT_TYPES),
                Field("IsPrivate", "boolean", "Private", default=False),
                _ref("WhoId", "Name ID", WHO_TARGETS, "Who"),
                _ref("WhatId", "Related To ID", WHAT_TARGETS, "What"),
                _ro("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account"),
                _owner(),
                _ro("IsGroupEvent", "boolean", "Is Group Event"),
                _ro("IsChild", "boolean", "Is Child"),
                _text("Recurrence2PatternText", "Recurrence Pattern", 1024, type="textarea"),
                _ro("IsRecurrence2", "boolean", "Event Series"),
                _ro("Recurrence2PatternStartDate", "datetime", "Recurrence Pattern Start Date"),
                _text("Recurrence2PatternTimeZone", "Recurrence Pattern Time Zone", 255),
                _ro("IsRecurrence2Exception", "boolean", "Is Exception"),
                _ro("RecurrenceActivityId", "reference", "Recurrence Activity ID", reference_to=("Event",)),
                _ro("IsRecurrence2Exclusion", "boolean", "Historical Event, Not Following Recurrence"),
                _ro("IsRecurrence", "boolean", "Create Recurring Series of Events"),
                _ro("Recurrence2PatternVersion", "picklist", "Recurrence Pattern Version", length=40),
                _calsync_key(),
                _text("External_Ref__c", "External Reference", 64, external_id=True, custom=True),
            ],
        ),
        _object(
            "EventRelation",
            "Event Relation",
            "Event Relations",
            "0RE",
            [
                _ref("EventId", "Event ID", ("Event",), "Event", required=True, updateable=False),
                _ref(
                    "RelationId",
                    "Relation ID",
                    ("Contact", "Lead", "User"),
                    "Relation",
                    required=True,
                    updateable=False,
                ),
                Field("IsInvitee", "boolean", "Is Invitee", default=True),
                Field("IsParent", "boolean", "Is Parent", default=False),
                _ro("IsWhat", "boolean", "Is What"),
                _text("Status", "Status", 40, type="picklist", picklist=RELATION_STATUSES, default="New"),
                Field("RespondedDate", "datetime", "Response Date"),
                _text("Response", "Response", 255),
            ],
            replicateable=False,
        ),
        _object(
            "Task",
            "Task",
            "Tasks",
            "00T",
            [
                _text("Subject", "Subject", 255, type="combobox", name_field=True),
                Field("ActivityDate", "date", "Due Date Only"),
                _text(
                    "Status",
                    "Status",
                    40,
                    type="picklist",
                    picklist=TASK_STATUSES,
                    required=True,
                    default="Not Started",
                ),
                _text(
                    "Priority",
                    "Priority",
                    40,
                    type="picklist",
                    picklist=TASK_PRIORITIES,
                    required=True,
                    default="Normal",
                ),
                _ro("IsClosed", "boolean", "Closed"),
                _ro("IsHighPriority", "boolean", "High Priority"),
                _ro("CompletedDateTime", "datetime", "Completed Date/Time"),
                Field("ReminderDateTime", "datetime", "Reminder Date/Time"),
                Field("IsReminderSet", "boolean", "Reminder Set", default=False),
                _text("Description", "Comments", 32000, type="textarea"),
                _text("Type", "Type", 40, type="picklist", picklist=("Call", "Email", "Meeting", "Other")),
                _ref("WhoId", "Name ID", WHO_TARGETS, "Who"),
                _ref("WhatId", "Related To ID", WHAT_TARGETS, "What"),
                _ro("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account"),
                _owner(),
                _calsync_key(),
            ],
        ),
        _object(
            "Site_Visit__c",
            "Site Visit",
            "Site Visits",
            "a0X",
            [
                _text("Name", "Site Visit Name", 80, required=True, name_field=True),
                Field("Visit_Start__c", "datetime", "Visit Start", required=True, custom=True),
                Field("Visit_End__c", "datetime", "Visit End", custom=True),
                _text("Notes__c", "Notes", 32768, type="textarea", custom=True),
                _ref("Account__c", "Account", ("Account",), "Account__r", custom=True),
                _owner(),
            ],
            custom=True,
        ),
        _object(
            "Renewal__c",
            "Renewal",
            "Renewals",
            "a0Y",
            [
                _text("Name", "Renewal Name", 80, required=True, name_field=True),
                Field("Renewal_Date__c", "date", "Renewal Date", required=True, custom=True),
                Field("Amount__c", "currency", "Amount", precision=16, scale=2, custom=True),
                _ref("Account__c", "Account", ("Account",), "Account__r", custom=True),
                _owner(),
            ],
            custom=True,
        ),
        # Read-only and virtual: rows are computed per query by sandbox.salesforce.sharing.
        SObject(
            "UserRecordAccess",
            "User Record Access",
            "User Record Access",
            "0Sx",
            {
                f.name: f
                for f in (
                    _ro("Id", "id", "User Record Access ID"),
                    _ro("UserId", "reference", "User ID", reference_to=("User",)),
                    _ro("RecordId", "reference", "Record ID"),
                    *(
                        _ro(name, "boolean", label)
                        for name, label in (
                            ("HasReadAccess", "Has Read Access"),
                            ("HasEditAccess", "Has Edit Access"),
                            ("HasDeleteAccess", "Has Delete Access"),
                            ("HasTransferAccess", "Has Transfer Access"),
                            ("HasAllAccess", "Has All Access"),
                        )
                    ),
                    _ro(
                        "MaxAccessLevel",
                        "picklist",
                        "Maximum Access Level",
                        length=40,
                        picklist=("None", "Read", "Edit", "Delete", "Transfer", "All"),
                    ),
                )
            },
            createable=False,
            updateable=False,
            deletable=False,
            replicateable=False,
        ),  # fmt: skip
    ]
    return {o.name: o for o in objects}


OBJECTS: dict[str, SObject] = _build_objects()
OBJECTS_LOWER: dict[str, SObject] = {name.lower(): o for name, o in OBJECTS.items()}
BY_PREFIX: dict[str, SObject] = {o.key_prefix: o for o in OBJECTS.values()}

# The fields of the polymorphic "Name" object that Who, What, Owner-like lookups expose in SOQL.
NAME_OBJECT = SObject(
    "Name",
    "Name",
    "Names",
    "",
    {
        f.name: f
        for f in [
            _ro("Id", "id", "Record ID"),
            _ro("Name", "string", "Name", length=255),
            _ro("FirstName", "string", "First Name", length=40),
            _ro("LastName", "string", "Last Name", length=80),
            _ro("Email", "email", "Email", length=80),
            _ro("Phone", "phone", "Phone", length=40),
            _ro("Title", "string", "Title", length=128),
            _ro("Alias", "string", "Alias", length=8),
            _ro("Username", "string", "Username", length=80),
            _ro("IsActive", "boolean", "Active"),
            _ro("Type", "string", "Object Type", length=40),
        ]
    },
)


def get_object(name: str) -> SObject | None:
    return OBJECTS_LOWER.get(name.lower())


def global_describe(version: str = API_VERSION) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [o.describe_summary(version) for o in OBJECTS.values()],
    }


# -- values -----------------------------------------------------------------------------------------------
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_datetime(text: str) -> dt.datetime | None:
    """An aware UTC datetime from the ISO 8601 shapes Salesforce accepts, or None."""
    match = _DATETIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = dt.UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        value = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    except ValueError:
        return None
    return value.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date | None:
    if not _DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1 << 16)
def format_datetime(value: dt.datetime) -> str:
    """The wire format of dateTime values: ``2026-11-23T10:00:00.000+0000`` (cached: stamps repeat a lot)."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
        f"{value.second:02d}.{value.microsecond // 1000:03d}+0000"
    )


def to_wire(f: Field, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "datetime":
        return format_datetime(value)
    if f.type == "date":
        return value.isoformat()
    return value


def wire_converter(f: Field) -> Any:
    """A function from a stored value to JSON for ``f``, or None when the value is already JSON."""
    if f.type == "datetime":
        return format_datetime
    if f.type == "date":
        return dt.date.isoformat
    return None


def from_stored(f: Field, value: Any) -> Any:
    """Inverse of ``to_wire`` for persisted state (trusted input)."""
    if value is None:
        return None
    if f.type == "datetime":
        return parse_datetime(value)
    if f.type == "date":
        return dt.date.fromisoformat(value)
    return value


def _deserialize_error(f: Field, value: Any) -> ApiError:
    kind = {"datetime": "datetime", "date": "date", "boolean": "boolean", "int": "int"}.get(f.type, "double")
    token = "VALUE_STRING" if isinstance(value, str) else "VALUE_" + type(value).__name__.upper()
    return ApiError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {value} or request may be missing a "
        f"required field at [line:1, column:1]",
    )


def from_wire(f: Field, value: Any) -> Any:
    """A JSON value written by a client, converted to the stored Python type (ApiError when it can't be)."""
    if value is None:
        return None
    if f.type in TEXT_TYPES or f.type in ID_TYPES:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str):
            return value
        raise _deserialize_error(f, value)
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _deserialize_error(f, value)
    if f.type == "int":
        if isinstance(value, bool):
            raise _deserialize_error(f, value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise _deserialize_error(f, value)
    if f.type in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _deserialize_error(f, value)
        if isinstance(value, int | float):
            return float(value) if isinstance(value, float) else value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _deserialize_error(f, value) from None
        raise _deserialize_error(f, value)
    if f.type == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise _deserialize_error(f, value)
        return parsed
    if f.type == "date":
        parsed_date = parse_date(value) if isinstance(value, str) else None
        if parsed_date is None:
            raise _deserialize_error(f, value)
        return parsed_date
    raise _deserialize_error(f, value)
