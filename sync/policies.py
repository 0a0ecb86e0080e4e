"""Per-object-kind sync policies (docs/policies.md), their defaults and validation.

One `Policy` per object kind: ``event`` (Salesforce Events), ``task`` (Salesforce Tasks) and
``custom:<ObjectApiName>`` (a custom object mapped by a `CustomObjectMapping`). `PolicySet` holds them with
the mass-deletion guard settings. Everything here is plain data: the admin panel stores it (``to_dict`` /
``policy_from_dict``) and the planner reads it.

Tasks (`TaskOptions`), as a user would expect them on a calendar:

- a Task with a due date (``ActivityDate``) becomes an **all-day item on its due date** (or, if
  ``all_day=False``, a block of ``duration_minutes`` at ``time_of_day`` in the mailbox's time zone);
- a Task without a due date has no place on a calendar: it is not synced (and a linked item is removed,
  like a deletion by ``salesforce_deletion``);
- a **completed or closed** Task (``IsClosed``, e.g. Status "Completed") stays where it was, because people
  look back at what they did, but marked done: the subject gets a ``"✓ "`` prefix and the item shows as
  *free*, so it does not block the day (``completed="mark"``, the default). ``completed="remove"`` treats
  closing a task like withdrawing it from the calendar instead;
- Task items carry the "SF Task" category (configurable, with its colour) and never recur;
- a **deleted** Task (or custom record) takes its calendar item with it: for these kinds
  ``salesforce_deletion`` defaults to ``delete_salesforce_created`` (Events keep ``keep``), because every such
  item was made by sync and an orphan without its category would only confuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sync.entry import EVENT, TASK, custom_kind, is_custom_kind, is_valid_kind

SALESFORCE_CATEGORY = "Salesforce"
TASK_CATEGORY = "SF Task"


class PolicyError(ValueError):
    """A policy that cannot be used; ``messages`` are meant for the admin, one per problem."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("; ".join(self.messages))


class Direction(StrEnum):
    TWO_WAY = "two_way"
    UPSYNC_ONLY = "upsync_only"  # Exchange → Salesforce
    DOWNSYNC_ONLY = "downsync_only"  # Salesforce → Exchange
    OFF = "off"


class ConflictWinner(StrEnum):
    EXCHANGE = "exchange"
    SALESFORCE = "salesforce"
    LATEST = "latest"


class SalesforceDeletion(StrEnum):
    """What happens on the Exchange side when the linked Salesforce record is deleted."""

    KEEP = "keep"  # remove our category, unlink
    DELETE_SALESFORCE_CREATED = "delete_salesforce_created"  # delete only items sync created from Salesforce
    DELETE = "delete"


class ExchangeDeletion(StrEnum):
    """What happens to the Salesforce record when the linked Exchange item is deleted or cancelled."""

    DELETE = "delete"
    KEEP = "keep"


class OnUnshare(StrEnum):
    KEEP_SALESFORCE = "keep_salesforce"
    DELETE_SALESFORCE = "delete_salesforce"


class PrivateItems(StrEnum):
    SKIP = "skip"
    MASKED = "masked"
    FULL = "full"


class DescriptionMode(StrEnum):
    ONCE = "once"
    TWO_WAY = "two_way"


class CompletedTasks(StrEnum):
    MARK = "mark"
    REMOVE = "remove"


MASKED_SUBJECT = "Private appointment"
COMPLETED_PREFIX = "✓ "
ONE_WAY_KIND_DIRECTIONS = (Direction.DOWNSYNC_ONLY, Direction.OFF)
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_MAX_SCOPE_DAYS = 3650


@dataclass(frozen=True)
class Scope:
    """Items are synced only if they overlap [now - past_days, now + future_days]."""

    past_days: int = 14
    future_days: int = 60

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        return now - timedelta(days=self.past_days), now + timedelta(days=self.future_days)


@dataclass(frozen=True)
class CustomObjectMapping:
    """How records of a custom object become calendar items (Salesforce → Exchange only).

    Either one Date field (``date_field``: an all-day item on that date) or a start and an end Date/Time
    field (``start_field`` and ``end_field``: a timed item). ``color`` is an Outlook category colour preset
    number (0-24, ``preset0``...``preset24``), -1 for none.
    """

    object_name: str
    subject_field: str
    category: str
    date_field: str | None = None
    start_field: str | None = None
    end_field: str | None = None
    description_field: str | None = None
    location_field: str | None = None
    color: int = 7

    @property
    def kind(self) -> str:
        return custom_kind(self.object_name)

    def problems(self) -> list[str]:
        out: list[str] = []
        if not _API_NAME.match(self.object_name or ""):
            out.append(f"Custom object name {self.object_name!r} is not a Salesforce API name.")
        for label, name in (
            ("subject field", self.subject_field),
            ("date field", self.date_field),
            ("start field", self.start_field),
            ("end field", self.end_field),
            ("description field", self.description_field),
            ("location field", self.location_field),
        ):
            if name is not None and not _API_NAME.match(name):
                out.append(f"The {label} {name!r} of {self.object_name} is not a Salesforce field API name.")
        has_range = self.start_field is not None or self.end_field is not None
        if self.date_field and has_range:
            out.append(
                f"{self.object_name}: choose either one Date field or a start and an end Date/Time field, not both."
            )
        elif not self.date_field and not (self.start_field and self.end_field):
            out.append(f"{self.object_name}: a Date field, or both a start and an end Date/Time field, is required.")
        out += _category_problems(self.category, self.color, f"{self.object_name} category")
        return out


@dataclass(frozen=True)
class TaskOptions:
    """How Tasks appear on the calendar; see the module docstring."""

    all_day: bool = True
    time_of_day: time = time(9, 0)
    duration_minutes: int = 30
    completed: CompletedTasks = CompletedTasks.MARK
    category: str = TASK_CATEGORY
    color: int = 4

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.all_day and not 1 <= self.duration_minutes <= 1440:
            out.append("Task duration must be between 1 and 1440 minutes.")
        out += _category_problems(self.category, self.color, "Task category")
        return out


def _category_problems(name: str, color: int, label: str) -> list[str]:
    out = []
    if not name or not name.strip():
        out.append(f"The {label} name must not be empty.")
    elif len(name) > 255 or "," in name or ";" in name:
        out.append(f"The {label} name {name!r} must be at most 255 characters, without ',' or ';'.")
    if not -1 <= color <= 24:
        out.append(f"The {label} colour must be an Outlook preset 0-24 (or -1 for none), not {color}.")
    return out


@dataclass(frozen=True)
class MassDeletionGuard:
    """docs/invariants.md #5: a session deleting more than max(min_count, fraction × links) writes nothing."""

    min_count: int = 5
    fraction: float = 0.2

    def threshold(self, link_count: int) -> float:
        return max(self.min_count, self.fraction * link_count)

    def trips(self, deletions: int, link_count: int) -> bool:
        return deletions > self.threshold(link_count)

    def problems(self) -> list[str]:
        out = []
        if self.min_count < 0:
            out.append("The mass-deletion guard minimum must not be negative.")
        if not 0 <= self.fraction <= 1:
            out.append("The mass-deletion guard fraction must be between 0 and 1.")
        return out


@dataclass(frozen=True)
class Policy:
    """The settings of one object kind (docs/policies.md). ``direction=None`` means the kind's default."""

    kind: str = EVENT
    direction: Direction | None = None
    conflict_winner: ConflictWinner = ConflictWinner.EXCHANGE
    # None: the kind's default: ``keep`` for Events; ``delete_salesforce_created`` for Tasks and custom
    # objects, whose calendar items sync always made (a deleted Task leaves no orphan on the calendar).
    salesforce_deletion: SalesforceDeletion | None = None
    exchange_deletion: ExchangeDeletion = ExchangeDeletion.DELETE
    on_unshare: OnUnshare = OnUnshare.KEEP_SALESFORCE
    private_items: PrivateItems = PrivateItems.SKIP
    description: DescriptionMode = DescriptionMode.ONCE
    scope: Scope = field(default_factory=Scope)
    attendees_to_exchange: bool = False
    # Connectors that cannot write without e-mailing attendees (Graph): may sync update or delete a meeting the
    # rep organises that has attendees? False: it writes nothing and notes ``graph_would_notify``.
    notify_attendees: bool = False
    task: TaskOptions | None = None
    custom: CustomObjectMapping | None = None

    def __post_init__(self) -> None:
        # Coerce strings (from the admin panel / JSON) into the enums; unknown values fail in validate().
        for f, enum in _ENUM_FIELDS.items():
            value = getattr(self, f)
            if isinstance(value, str) and value in enum._value2member_map_:
                object.__setattr__(self, f, enum(value))
        if self.direction is None:
            default = Direction.TWO_WAY if self.kind == EVENT else Direction.DOWNSYNC_ONLY
            object.__setattr__(self, "direction", default)
        if self.salesforce_deletion is None:
            deletion = SalesforceDeletion.KEEP if self.kind == EVENT else SalesforceDeletion.DELETE_SALESFORCE_CREATED
            object.__setattr__(self, "salesforce_deletion", deletion)
        if self.kind == TASK and self.task is None:
            object.__setattr__(self, "task", TaskOptions())

    @property
    def category(self) -> str:
        """The Exchange category that marks items of this kind."""
        if self.kind == TASK and self.task:
            return self.task.category
        if self.custom is not None:
            return self.custom.category
        return SALESFORCE_CATEGORY

    @property
    def is_one_way_kind(self) -> bool:
        return self.kind != EVENT

    def problems(self) -> list[str]:
        """Every problem with this policy, as messages for the admin (empty when valid)."""
        out: list[str] = []
        if not is_valid_kind(self.kind):
            return [f"Unknown object kind {self.kind!r}: use 'event', 'task' or 'custom:<ObjectApiName>'."]
        for f, enum in _ENUM_FIELDS.items():
            value = getattr(self, f)
            if not isinstance(value, enum):
                allowed = ", ".join(repr(v.value) for v in enum)
                out.append(f"{f.replace('_', ' ').capitalize()} {value!r} is not one of {allowed}.")
        if self.is_one_way_kind and self.direction not in ONE_WAY_KIND_DIRECTIONS:
            what = "Tasks" if self.kind == TASK else f"Custom object {self.kind[len('custom:') :]} records"
            out.append(
                f"{what} sync one way only, Salesforce → Exchange: direction must be 'downsync_only' or "
                f"'off', not {str(self.direction)!r}."
            )
        for label, days in (("past", self.scope.past_days), ("future", self.scope.future_days)):
            if not isinstance(days, int) or not 0 <= days <= _MAX_SCOPE_DAYS:
                out.append(f"Scope {label} days must be a whole number from 0 to {_MAX_SCOPE_DAYS}, not {days!r}.")
        if not isinstance(self.notify_attendees, bool):
            out.append(f"Notify attendees must be true or false, not {self.notify_attendees!r}.")
        if is_custom_kind(self.kind):
            if self.custom is None:
                out.append(f"{self.kind} needs a custom object mapping (fields, category).")
            else:
                if self.custom.kind != self.kind:
                    out.append(f"The mapping is for {self.custom.object_name}, but the policy is for {self.kind}.")
                out += self.custom.problems()
        elif self.custom is not None:
            out.append(f"A custom object mapping only belongs on a custom object policy, not {self.kind!r}.")
        if self.task is not None:
            if self.kind != TASK:
                out.append(f"Task options only belong on the task policy, not {self.kind!r}.")
            else:
                out += self.task.problems()
        return out

    def validated(self) -> Policy:
        """This policy, or `PolicyError` listing every problem."""
        problems = self.problems()
        if problems:
            raise PolicyError(problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["direction"] = str(self.direction)
        if self.task is not None:
            data["task"]["time_of_day"] = self.task.time_of_day.strftime("%H:%M")
        return data


_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "direction": Direction,
    "conflict_winner": ConflictWinner,
    "salesforce_deletion": SalesforceDeletion,
    "exchange_deletion": ExchangeDeletion,
    "on_unshare": OnUnshare,
    "private_items": PrivateItems,
    "description": DescriptionMode,
}


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Build and validate a `Policy` from stored/admin JSON; raises `PolicyError` with readable messages."""
    known = {f.name for f in fields(Policy)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError([f"Unknown policy setting {name!r}." for name in unknown])
    values = dict(data)
    try:
        if isinstance(values.get("scope"), Mapping):
            values["scope"] = Scope(**values["scope"])
        if isinstance(values.get("task"), Mapping):
            task = dict(values["task"])
            if isinstance(task.get("time_of_day"), str):
                task["time_of_day"] = time.fromisoformat(task["time_of_day"])
            if isinstance(task.get("completed"), str):
                task["completed"] = CompletedTasks(task["completed"])
            values["task"] = TaskOptions(**task)
        if isinstance(values.get("custom"), Mapping):
            values["custom"] = CustomObjectMapping(**values["custom"])
    except (TypeError, ValueError) as exc:
        raise PolicyError([f"Invalid policy settings: {exc}"]) from exc
    return Policy(**values).validated()


def default_policy(kind: str) -> Policy:
    return Policy(kind=kind)


@dataclass(frozen=True)
class PolicySet:
    """All policies of the org plus the guard. Kinds without a policy use the defaults (custom: off)."""

    policies: Mapping[str, Policy] = field(default_factory=dict)
    guard: MassDeletionGuard = field(default_factory=MassDeletionGuard)

    def for_kind(self, kind: str) -> Policy:
        policy = self.policies.get(kind)
        if policy is not None:
            return policy
        if is_custom_kind(kind):
            # A custom object nobody mapped is not synced.
            return Policy(kind=kind, direction=Direction.OFF)
        return default_policy(kind)

    def problems(self) -> list[str]:
        out = list(self.guard.problems())
        for kind, policy in sorted(self.policies.items()):
            if policy.kind != kind:
                out.append(f"Policy stored under {kind!r} is for {policy.kind!r}.")
            out += policy.problems()
        return out

    def validated(self) -> PolicySet:
        problems = self.problems()
        if problems:
            raise PolicyError(problems)
        return self

    def with_policy(self, policy: Policy) -> PolicySet:
        return replace(self, policies={**self.policies, policy.kind: policy})
