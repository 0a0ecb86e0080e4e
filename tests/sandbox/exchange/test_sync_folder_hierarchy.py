"""SyncFolderHierarchy through exchangelib: the whole tree below a folder on the first sync, only new folders
afterwards, and the invalid-state answer."""

from __future__ import annotations

import pytest
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.folders import Favorites


def test_first_sync_lists_the_tree_then_only_new_folders(alice):
    root = alice.msg_folder_root
    first = list(root.sync_hierarchy())
    assert {kind for kind, _ in first} == {"create"}
    by_name = {f.name: f for _, f in first}
    # (exchangelib builds every folder with the class of the folder it syncs; the folder class tells them apart.)
    assert by_name["Calendar"].id == alice.calendar.id and by_name["Calendar"].folder_class == "IPF.Appointment"
    assert by_name["Inbox"].id == alice.inbox.id and by_name["Deleted Items"].id == alice.trash.id
    assert all(f.parent_folder_id.id == root.id for f in by_name.values())
    state = root.folder_sync_state

    assert list(root.sync_hierarchy()) == []
    # The first use of a distinguished folder makes it: the next sync reports it.
    favorites = alice.root.get_default_folder(Favorites)
    assert [(kind, f.id) for kind, f in root.sync_hierarchy(sync_state=state)] == [("create", favorites.id)]


def test_from_the_mailbox_root_it_includes_the_non_ipm_folders(alice):
    names = {f.name for _, f in alice.root.sync_hierarchy()}
    assert {"Top of Information Store", "Calendar", "Recoverable Items", "Deletions"} <= names


def test_a_state_of_another_folder_is_invalid(alice):
    list(alice.msg_folder_root.sync_hierarchy())
    state = alice.msg_folder_root.folder_sync_state
    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.calendar.sync_hierarchy(sync_state=state))
    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.calendar.sync_hierarchy(sync_state="bm90IGEgc3RhdGU="))
