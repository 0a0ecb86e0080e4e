"""Help text for every setting the panel shows (docs/policies.md policies, the org settings), in plain words."""

from __future__ import annotations

POLICY_FIELDS: dict[str, dict] = {
    "direction": {
        "label": "Direction",
        "help": "Which way changes flow. A one-way direction reverts changes made on the other side at the next "
        "session; it does not just ignore them.",
        "values": {
            "two_way": "Two-way: creations, edits and deletions flow both ways; conflicts go to the conflict winner.",
            "upsync_only": "Upsync only (Exchange → Salesforce): Salesforce edits and deletions of linked records "
            "are reverted from Exchange; Events created in Salesforce still come down once.",
            "downsync_only": "Downsync only (Salesforce → Exchange): Outlook edits of linked items are overwritten "
            "and deleted items re-created; Outlook-created items are not sent up (a health entry "
            "says why).",
            "off": "Off: stop syncing this kind. Items sync created in Exchange from Salesforce are removed; "
            "everything else stays, unlinked.",
        },
    },
    "conflict_winner": {
        "label": "Conflict winner",
        "help": "Two-way only: who wins a field changed on both sides since the last session (fields changed on "
        "one side only are always taken from that side).",
        "values": {
            "exchange": "Exchange (Outlook) wins.",
            "salesforce": "Salesforce wins.",
            "latest": "The side changed most recently wins.",
        },
    },
    "salesforce_deletion": {
        "label": "When the Salesforce record is deleted",
        "help": "What happens to the linked Exchange item (ServiceEventDeletionStrategy).",
        "values": {
            "keep": "Keep the item: remove our category and unlink it.",
            "delete_salesforce_created": "Delete only items that sync created from Salesforce; keep the others "
            "(unlinked).",
            "delete": "Delete the Exchange item (no cancellation is ever sent).",
        },
    },
    "exchange_deletion": {
        "label": "When the Exchange item is deleted or cancelled",
        "help": "What happens to the linked Salesforce record.",
        "values": {"delete": "Delete the Salesforce record.", "keep": "Keep the Salesforce record, unlinked."},
    },
    "on_unshare": {
        "label": "When an item is unshared",
        "help": "The Salesforce category removed in Outlook, or Unshare pressed in the add-in.",
        "values": {
            "keep_salesforce": "Unlink and keep the Salesforce record.",
            "delete_salesforce": "Delete the Salesforce record.",
        },
    },
    "private_items": {
        "label": "Private items",
        "help": "Exchange items marked private.",
        "values": {
            "skip": "Not synced.",
            "masked": "Synced as private with the subject “Private appointment” and no body.",
            "full": "Synced with everything.",
        },
    },
    "description": {
        "label": "Description",
        "help": "How the body (Salesforce Description) syncs.",
        "values": {
            "once": "Once: the body goes to Salesforce at creation only; Salesforce notes never reach a "
            "meeting with attendees.",
            "two_way": "Two-way: the body syncs like every other field.",
        },
    },
    "scope": {
        "label": "Scope",
        "help": "Only items overlapping [today − past days, today + future days] sync. Leaving the scope never "
        "deletes anything.",
    },
    "attendees_to_exchange": {
        "label": "Salesforce invitees to Exchange",
        "help": "Add Salesforce invitees to the Exchange item as attendees (no invitation is ever sent). "
        "Mailboxes on Microsoft Graph never get attendees from sync (Graph would invite them): the invitees "
        "are listed at the end of the item's body instead.",
    },
    "notify_attendees": {
        "label": "Notify attendees (Microsoft Graph mailboxes)",
        "help": "Graph cannot change or delete a meeting without e-mailing its attendees. Unticked (the default), "
        "a Salesforce change to a meeting the rep organises that has attendees is not written to Outlook: "
        "the item gets a health note (graph_would_notify) and the rep makes the change in Outlook. Ticked, "
        "sync writes it and Exchange e-mails every attendee an update or cancellation. EWS mailboxes never "
        "notify anyone, whatever this says.",
    },
}

TASK_FIELDS = {
    "all_day": "Show a Task as an all-day item on its due date (unticked: a block at the time below).",
    "time_of_day": "Start of the block, in the mailbox's time zone (HH:MM), when not all-day.",
    "duration_minutes": "Length of the block in minutes (1-1440), when not all-day.",
    "completed": "Completed or closed Tasks: “mark” keeps them with a ✓ and shows them as free; “remove” takes "
    "them off the calendar.",
    "category": "The Outlook category Task items carry.",
    "color": "The category's colour in Outlook.",
}

CUSTOM_FIELDS = {
    "subject_field": "The field that becomes the item's subject (a text field).",
    "date_field": "One Date field: the record becomes an all-day item on that date.",
    "start_field": "Or two Date/Time fields: start …",
    "end_field": "… and end of a timed item.",
    "description_field": "Optional: a field that becomes the item's body.",
    "location_field": "Optional: a field that becomes the item's location.",
    "category": "The Outlook category the items carry (no ',' or ';').",
    "color": "The category's colour in Outlook.",
}

# Outlook's category colour presets (preset0 ... preset24).
COLORS = [
    "Red", "Orange", "Brown", "Yellow", "Green", "Teal", "Olive", "Blue", "Purple", "Cranberry", "Steel",
    "Dark steel", "Gray", "Dark gray", "Black", "Dark red", "Dark orange", "Dark brown", "Dark yellow",
    "Dark green", "Dark teal", "Dark olive", "Dark blue", "Dark purple", "Dark cranberry",
]  # fmt: skip

SETTINGS = {
    "intervals": "Minutes between two sessions of a mailbox, comma-separated: the first after a session that "
    "found a change, then one step longer after each quiet one (e.g. 30, 60, 120).",
    "budget_max_requests": "Stop sessions once the org has used this many Salesforce API requests in 24 hours "
    "(0: no count limit). Stopped sessions write nothing half-way; the mailbox backs off.",
    "budget_max_percent": "Stop sessions once the org has used this share of its daily Salesforce API requests "
    "(0: off).",
    "scope_past_days": "Default scope, past days: used by Events and Tasks until their policy is saved.",
    "scope_future_days": "Default scope, future days.",
    "guard_min_count": "Mass-deletion guard: a session that would delete more than this many links …",
    "guard_percent": "… and more than this share of a mailbox's links writes nothing and raises a health entry "
    "(a session that sees an empty side while links exist is stopped too).",
}
