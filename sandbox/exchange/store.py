"""The sandbox's mailboxes, folders and items, with the change sequence that SyncFolderItems reads.

Items keep every field as the XML element the client sent (normalised the way Exchange normalises values), so
that what a client writes is what it reads back. One store lock guards everything; the WSGI layer takes it
for each request.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import struct
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import ids
from .xml import Element, from_bytes, to_bytes, utcnow

# Distinguished folders: name -> (display name, folder class, response element, parent distinguished name)
DISTINGUISHED: dict[str, tuple[str, str | None, str, str | None]] = {
    "root": ("root", None, "Folder", None),  # what Exchange names the mailbox root
    "msgfolderroot": ("Top of Information Store", "IPF.Note", "Folder", "root"),
    "calendar": ("Calendar", "IPF.Appointment", "CalendarFolder", "msgfolderroot"),
    "tasks": ("Tasks", "IPF.Task", "TasksFolder", "msgfolderroot"),
    "contacts": ("Contacts", "IPF.Contact", "ContactsFolder", "msgfolderroot"),
    "inbox": ("Inbox", "IPF.Note", "Folder", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "IPF.Note", "Folder", "msgfolderroot"),
    "drafts": ("Drafts", "IPF.Note", "Folder", "msgfolderroot"),
    "sentitems": ("Sent Items", "IPF.Note", "Folder", "msgfolderroot"),
    "outbox": ("Outbox", "IPF.Note", "Folder", "msgfolderroot"),
    "junkemail": ("Junk Email", "IPF.Note", "Folder", "msgfolderroot"),
    "notes": ("Notes", "IPF.StickyNote", "Folder", "msgfolderroot"),
    "journal": ("Journal", "IPF.Journal", "Folder", "msgfolderroot"),
    "conversationhistory": ("Conversation History", "IPF.Note", "Folder", "msgfolderroot"),
    "recoverableitemsroot": ("Recoverable Items", None, "Folder", "root"),
    "recoverableitemsdeletions": ("Deletions", None, "Folder", "recoverableitemsroot"),
    "searchfolders": ("Finder", None, "Folder", "root"),
}


def change_key_seq(changekey: str) -> int | None:
    """The write counter inside a change key (None when it is not one of ours)."""
    try:
        raw = base64.b64decode(changekey, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) != 16 or not raw.startswith(b"\x0f\x00\x00\x00\x16"):
        return None
    return struct.unpack(">Q", raw[8:])[0]


def change_key(seq: int) -> str:
    """A change key: opaque, different after every write (the store-wide write counter is part of it)."""
    return base64.b64encode(b"\x0f\x00\x00\x00\x16\x00\x00\x00" + struct.pack(">Q", seq)).decode("ascii")


@dataclass
class Folder:
    id: str
    key: uuid.UUID
    distinguished: str | None
    display_name: str
    folder_class: str | None
    element: str
    parent_id: str | None
    changekey: str
    # Name -> stored t:UserConfiguration children (UserConfigurationName excluded), serialised lazily.
    user_configs: dict[str, dict[str, Element]] = field(default_factory=dict)
    # Items that left this folder: item id -> (seq it entered, seq it left). Read by SyncFolderItems.
    tombstones: dict[str, tuple[int, int]] = field(default_factory=dict)
    created_seq: int = 0  # the write that made it (SyncFolderHierarchy: Create or Update)


@dataclass
class Item:
    id: str
    key: uuid.UUID
    folder_id: str
    changekey: str
    created: dt.datetime
    modified: dt.datetime
    entered_seq: int  # when it entered its current folder
    changed_seq: int  # its last write
    # Local element name -> the element (t: namespace), normalised; ExtendedProperty elements by their key.
    fields: dict[str, Element] = field(default_factory=dict)
    extended: dict[tuple, Element] = field(default_factory=dict)
    # Recurring masters: overlay fields of modified occurrences and the deleted ones, by original start
    # (Unix seconds, UTC).
    exceptions: dict[int, dict[str, Element]] = field(default_factory=dict)
    deleted_occurrences: set[int] = field(default_factory=set)
    # Field (or repr of an extended-property key) -> seq of its last write; AutoResolve conflict checks use it.
    field_seqs: dict[str, int] = field(default_factory=dict)
    # The response element: CalendarItem, or a meeting message (MeetingRequest, MeetingResponse,
    # MeetingCancellation) in Inbox, Sent Items or Drafts (sandbox/exchange/meetings.py).
    element: str = "CalendarItem"


@dataclass
class Mailbox:
    email: str
    password: str
    name: str
    guid: uuid.UUID
    timezone: str = "UTC"  # IANA, for the demo seed and the default of dates without a zone
    folders: dict[str, Folder] = field(default_factory=dict)
    distinguished: dict[str, str] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    # Deleted folders: id -> (seq of the delete, ids of its ancestors then). Read by SyncFolderHierarchy.
    folder_tombstones: dict[str, tuple[int, list[str]]] = field(default_factory=dict)

    def folder(self, name: str) -> Folder:
        return self.folders[self.distinguished[name]]

    def items_in(self, folder_id: str) -> list[Item]:
        return [i for i in self.items.values() if i.folder_id == folder_id]


class Store:
    """All mailboxes. ``seq`` counts writes (sync states and change keys are built on it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.epoch = os.urandom(8).hex()  # a sync state from another store (or a reset) is invalid
        self.seq = 0
        self.mailboxes: dict[str, Mailbox] = {}
        # Called as observer(kind, mailbox, item, folder_id, old_folder_id) after every item write, under the
        # lock; the EWS notifications journal (notifications.py) is one. kind: created|modified|moved|deleted,
        # or folder_created (item None).
        self.observers: list = []

    def changed(
        self, kind: str, mb: Mailbox, item: Item | None, folder_id: str, old_folder_id: str | None = None
    ) -> None:
        for observer in self.observers:
            observer(kind, mb, item, folder_id, old_folder_id)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- mailboxes and folders ------------------------------------------------------------------------------
    def add_mailbox(self, email: str, password: str, name: str | None = None, timezone: str = "UTC") -> Mailbox:
        email_l = email.lower()
        if email_l in self.mailboxes:
            mb = self.mailboxes[email_l]
            mb.password = password
            return mb
        mb = Mailbox(email=email, password=password, name=name or email.split("@")[0], guid=uuid.uuid4())
        mb.timezone = timezone
        for dname in DISTINGUISHED:
            self.distinguished_folder(mb, dname)
        self.mailboxes[email_l] = mb
        return mb

    def mailbox(self, email: str) -> Mailbox | None:
        return self.mailboxes.get((email or "").lower())

    def distinguished_folder(self, mb: Mailbox, name: str) -> Folder:
        if name in mb.distinguished:
            return mb.folders[mb.distinguished[name]]
        display, cls, element, parent = DISTINGUISHED.get(name, (name, "IPF.Note", "Folder", "msgfolderroot"))
        parent_id = self.distinguished_folder(mb, parent).id if parent else None
        key = uuid.uuid4()
        seq = self.next_seq()
        folder = Folder(
            id=ids.encode(mb.guid, ids.FOLDER, key),
            key=key,
            distinguished=name,
            display_name=display,
            folder_class=cls,
            element=element,
            parent_id=parent_id,
            changekey=change_key(seq),
            created_seq=seq,
        )
        mb.folders[folder.id] = folder
        mb.distinguished[name] = folder.id
        self.changed("folder_created", mb, None, folder.id)
        return folder

    # -- items ----------------------------------------------------------------------------------------------
    def new_item(self, mb: Mailbox, folder: Folder) -> Item:
        key = uuid.uuid4()
        seq = self.next_seq()
        now = utcnow()
        item = Item(
            id=ids.encode(mb.guid, ids.ITEM, key),
            key=key,
            folder_id=folder.id,
            changekey=change_key(seq),
            created=now,
            modified=now,
            entered_seq=seq,
            changed_seq=seq,
        )
        mb.items[item.id] = item
        self.changed("created", mb, item, folder.id)
        return item

    def touch(self, item: Item, *, event: bool = True) -> None:
        seq = self.next_seq()
        item.changed_seq = seq
        item.changekey = change_key(seq)
        item.modified = utcnow()
        if event and self.observers:
            mb = self.mailbox_of(item)
            if mb is not None:
                self.changed("modified", mb, item, item.folder_id)

    def mailbox_of(self, item: Item) -> Mailbox | None:
        guid = ids.decode(item.id).mailbox
        return next((mb for mb in self.mailboxes.values() if mb.guid == guid), None)

    def remove_item(self, mb: Mailbox, item: Item) -> None:
        folder = mb.folders[item.folder_id]
        folder.tombstones[item.id] = (item.entered_seq, self.next_seq())
        del mb.items[item.id]
        self.changed("deleted", mb, item, folder.id)

    def move_item(self, mb: Mailbox, item: Item, target: Folder) -> None:
        if target.id == item.folder_id:
            return
        folder = mb.folders[item.folder_id]
        seq = self.next_seq()
        folder.tombstones[item.id] = (item.entered_seq, seq)
        target.tombstones.pop(item.id, None)
        item.folder_id = target.id
        item.entered_seq = seq
        self.touch(item, event=False)
        self.changed("moved", mb, item, target.id, folder.id)

    # -- persistence ----------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        def els(d: dict) -> dict:
            return {k: to_bytes(v).decode() for k, v in d.items()}

        out = {"epoch": self.epoch, "seq": self.seq, "mailboxes": []}
        for mb in self.mailboxes.values():
            out["mailboxes"].append(
                {
                    "email": mb.email,
                    "password": mb.password,
                    "name": mb.name,
                    "guid": str(mb.guid),
                    "timezone": mb.timezone,
                    "distinguished": mb.distinguished,
                    "folder_tombstones": mb.folder_tombstones,
                    "folders": [
                        {
                            "id": f.id,
                            "key": str(f.key),
                            "distinguished": f.distinguished,
                            "display_name": f.display_name,
                            "folder_class": f.folder_class,
                            "element": f.element,
                            "parent_id": f.parent_id,
                            "changekey": f.changekey,
                            "user_configs": {n: els(c) for n, c in f.user_configs.items()},
                            "tombstones": f.tombstones,
                            "created_seq": f.created_seq,
                        }
                        for f in mb.folders.values()
                    ],
                    "items": [
                        {
                            "id": i.id,
                            "key": str(i.key),
                            "folder_id": i.folder_id,
                            "changekey": i.changekey,
                            "created": i.created.isoformat(),
                            "modified": i.modified.isoformat(),
                            "entered_seq": i.entered_seq,
                            "changed_seq": i.changed_seq,
                            "fields": els(i.fields),
                            "extended": [to_bytes(e).decode() for e in i.extended.values()],
                            "exceptions": {str(k): els(v) for k, v in i.exceptions.items()},
                            "deleted_occurrences": sorted(i.deleted_occurrences),
                            "field_seqs": i.field_seqs,
                            "element": i.element,
                        }
                        for i in mb.items.values()
                    ],
                }
            )
        return out

    @classmethod
    def from_json(cls, data: dict, extended_key) -> Store:
        def els(d: dict) -> dict:
            return {k: from_bytes(v.encode()) for k, v in d.items()}

        store = cls()
        store.epoch = data["epoch"]
        store.seq = data["seq"]
        for m in data["mailboxes"]:
            mb = Mailbox(m["email"], m["password"], m["name"], uuid.UUID(m["guid"]), m.get("timezone", "UTC"))
            mb.distinguished = dict(m["distinguished"])
            mb.folder_tombstones = {k: (v[0], list(v[1])) for k, v in m.get("folder_tombstones", {}).items()}
            for f in m["folders"]:
                mb.folders[f["id"]] = Folder(
                    id=f["id"],
                    key=uuid.UUID(f["key"]),
                    distinguished=f["distinguished"],
                    display_name=f["display_name"],
                    folder_class=f["folder_class"],
                    element=f["element"],
                    parent_id=f["parent_id"],
                    changekey=f["changekey"],
                    user_configs={n: els(c) for n, c in f["user_configs"].items()},
                    tombstones={k: tuple(v) for k, v in f["tombstones"].items()},
                    created_seq=f.get("created_seq", 0),
                )
            for i in m["items"]:
                exts = [from_bytes(e.encode()) for e in i["extended"]]
                mb.items[i["id"]] = Item(
                    id=i["id"],
                    key=uuid.UUID(i["key"]),
                    folder_id=i["folder_id"],
                    changekey=i["changekey"],
                    created=dt.datetime.fromisoformat(i["created"]),
                    modified=dt.datetime.fromisoformat(i["modified"]),
                    entered_seq=i["entered_seq"],
                    changed_seq=i["changed_seq"],
                    fields=els(i["fields"]),
                    extended={extended_key(e): e for e in exts},
                    exceptions={int(k): els(v) for k, v in i["exceptions"].items()},
                    deleted_occurrences=set(i["deleted_occurrences"]),
                    field_seqs=dict(i.get("field_seqs", {})),
                    element=i.get("element", "CalendarItem"),
                )
            store.mailboxes[mb.email.lower()] = mb
        return store

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, extended_key) -> Store:
        return cls.from_json(json.loads(path.read_text()), extended_key)
