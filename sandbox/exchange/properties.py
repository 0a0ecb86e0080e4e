"""Which CalendarItem (and base Item) elements a client may write, and what Exchange answers when it may not.

One row per child element of ``t:ItemType`` and ``t:CalendarItemType`` in ``schema/types.xsd`` (a test checks
that the table covers the schema). ``WRITABLE`` fields are taken by CreateItem and by UpdateItem's SetItemField
and DeleteItemField; ``APPENDABLE`` ones also by AppendToItemField; ``REQUIRED`` ones cannot be deleted; the rest
are ``READ_ONLY`` (computed by the server, or set only as a side effect of another operation) and rendered from
the item's state in ``calendar.full_fields``.

Response codes (Microsoft, "EWS property-related errors",
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-property-related-errors):

- setting a read-only property (CreateItem or SetItemField/AppendToItemField): ``ErrorInvalidPropertySet``;
- appending to anything but Body, the recipient lists and the attendee lists: ``ErrorInvalidPropertyAppend``;
- deleting a property that cannot be deleted (ids, Start, End, computed ones): ``ErrorInvalidPropertyDelete``;
- a property the operation does not support on that item (the master's Recurrence or UID set on one
  occurrence): ``ErrorInvalidPropertyForOperation``;
- changing a property of a sent or received message that is fixed once sent (a meeting message's recipients,
  sender, receipt requests): ``ErrorInvalidPropertyUpdateSentMessage``.

Sources for read-only-ness: each element's page in the EWS reference
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/<element>, e.g. IsRecurring,
IsMeeting, Duration, AppointmentState say "This element is read-only"; ReminderDueBy and Culture are plain
read/write ItemType properties in the EWS proxy classes, ``ItemType.ReminderDueBy { get; set; }``) and
exchangelib's field flags (``is_read_only``), which encode what Exchange 2010-2019 accept. Where neither says
(ReminderNextTime, Flag, PolicyTag, ArchiveTag, MeetingTimeZone, ItemClass), the sandbox takes the value like
the MAPI property behind it (writable), which is what Exchange 2016/2019 do as far as we know. Attachments are
taken inline by CreateItem only; later changes go through CreateAttachment/DeleteAttachment
(``services/attachments.py``), and SetItemField/DeleteItemField of ``Attachments`` are refused.
"""

from __future__ import annotations

from .errors import EwsError

# Writable on create and update: the t:ItemType elements, then the t:CalendarItemType ones.
ITEM_WRITABLE = frozenset(
    {
        "MimeContent",
        "ItemClass",
        "Subject",
        "Sensitivity",
        "Body",
        "Categories",
        "Importance",
        "InReplyTo",
        "ReminderDueBy",
        "ReminderIsSet",
        "ReminderNextTime",
        "ReminderMinutesBeforeStart",
        "Culture",
        "Flag",
        "PolicyTag",
        "ArchiveTag",
    }
)
# The writable t:CalendarItemType elements (meeting requests carry all but LegacyFreeBusyStatus: meetings.py).
CALENDAR_WRITABLE = frozenset(
    {
        "UID",
        "Start",
        "End",
        "IsAllDayEvent",
        "LegacyFreeBusyStatus",
        "Location",
        "When",
        "IsResponseRequested",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Recurrence",
        "MeetingTimeZone",
        "StartTimeZone",
        "EndTimeZone",
        "ConferenceType",
        "AllowNewTimeProposal",
        "MeetingWorkspaceUrl",
        "NetShowUrl",
        "EnhancedLocation",
    }
)
WRITABLE = ITEM_WRITABLE | CALENDAR_WRITABLE
# AppendToItemField: the body and the recipient/attendee collections only.
APPENDABLE = frozenset(
    {
        "Body",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "ReplyTo",
    }
)
REQUIRED = frozenset({"Start", "End"})
# Computed, or set only as a side effect (meeting requests and responses set MyResponseType, IsCancelled, ...).
READ_ONLY = frozenset(
    {
        # t:ItemType
        "ItemId",
        "ParentFolderId",
        "DateTimeReceived",
        "Size",
        "IsSubmitted",
        "IsDraft",
        "IsFromMe",
        "IsResend",
        "IsUnmodified",
        "InternetMessageHeaders",
        "DateTimeSent",
        "DateTimeCreated",
        "ResponseObjects",
        "DisplayCc",
        "DisplayTo",
        "HasAttachments",
        "EffectiveRights",
        "LastModifiedName",
        "LastModifiedTime",
        "IsAssociated",
        "WebClientReadFormQueryString",
        "WebClientEditFormQueryString",
        "ConversationId",
        "UniqueBody",
        "NormalizedBody",
        "EntityExtractionResult",
        "RetentionDate",
        "Preview",
        "RightsManagementLicenseData",
        "PredictedActionReasons",
        "IsClutter",
        "BlockStatus",
        "HasBlockedImages",
        "TextBody",
        "IconIndex",
        "InstanceKey",
        "StoreEntryId",
        # t:CalendarItemType
        "RecurrenceId",
        "DateTimeStamp",
        "OriginalStart",
        "IsMeeting",
        "IsCancelled",
        "IsRecurring",
        "MeetingRequestWasSent",
        "CalendarItemType",
        "MyResponseType",
        "Organizer",
        "ConflictingMeetingCount",
        "AdjacentMeetingCount",
        "ConflictingMeetings",
        "AdjacentMeetings",
        "Duration",
        "TimeZone",
        "AppointmentReplyTime",
        "AppointmentSequenceNumber",
        "AppointmentState",
        "FirstOccurrence",
        "LastOccurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "IsOnlineMeeting",
        "StartWallClock",
        "EndWallClock",
        "StartTimeZoneId",
        "EndTimeZoneId",
        "IntendedFreeBusyStatus",
        "JoinOnlineMeetingUrl",
        "OnlineMeetingSettings",
        "IsOrganizer",
    }
)
# Taken by CreateItem only (later changes go through CreateAttachment/DeleteAttachment).
CREATE_ONLY = frozenset({"Attachments"})
# Belong to a series' master: an occurrence does not carry them.
MASTER_ONLY = frozenset({"Recurrence", "UID"})
# Fixed once a message is sent (the meeting messages in Inbox and Sent Items).
FIXED_AFTER_SEND = frozenset(
    {
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "From",
        "Sender",
        "IsReadReceiptRequested",
        "IsDeliveryReceiptRequested",
        "InternetMessageId",
        "DateTimeSent",
    }
)


# What a mailbox owner may change on a received or sent meeting message (read state, own categories, flags ...).
MESSAGE_WRITABLE = frozenset(
    {
        "IsRead",
        "Subject",
        "Categories",
        "Importance",
        "Body",
        "Sensitivity",
        "Flag",
        "ReminderIsSet",
        "ReminderDueBy",
        "ReminderMinutesBeforeStart",
        "Culture",
        "InReplyTo",
        "IsResponseRequested",
        "ItemClass",
    }
)


def check_message_set(name: str) -> None:
    """SetItemField on a meeting message (MeetingRequest, MeetingResponse, MeetingCancellation)."""
    check_message_update(name)
    if name not in MESSAGE_WRITABLE:
        raise EwsError("ErrorInvalidPropertySet", f"Set action is invalid for property {name} on a meeting message.")


def check_set(name: str, *, occurrence: bool = False, creating: bool = False) -> None:
    """Raise Exchange's error when a client may not set ``name`` (CreateItem or SetItemField)."""
    if name in CREATE_ONLY and not creating:
        raise EwsError("ErrorInvalidPropertySet", f"{name} cannot be updated: use CreateAttachment/DeleteAttachment.")
    if name in READ_ONLY:
        raise EwsError("ErrorInvalidPropertySet", f"Set action is invalid for property {name} (read-only).")
    if occurrence and name in MASTER_ONLY:
        raise EwsError("ErrorInvalidPropertyForOperation", f"Property {name} cannot be set on an occurrence.")


def check_append(name: str) -> None:
    if name not in APPENDABLE:
        raise EwsError("ErrorInvalidPropertyAppend", f"Append action is invalid for property {name}.")


def check_delete(name: str) -> None:
    if name in REQUIRED or name in READ_ONLY or name in CREATE_ONLY:
        raise EwsError("ErrorInvalidPropertyDelete", f"Delete action is invalid for property {name}.")


def check_message_update(name: str) -> None:
    """A received or sent meeting message: its transport fields are fixed."""
    if name in FIXED_AFTER_SEND:
        raise EwsError("ErrorInvalidPropertyUpdateSentMessage", f"Property {name} cannot be updated on a sent message.")
