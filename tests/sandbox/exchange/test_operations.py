"""GetFolder / FindFolder, the master category list (Get/Create/UpdateUserConfiguration), ConvertId and
ResolveNames, as exchangelib uses them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from exchangelib import DELEGATE, Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorAccessDenied, ErrorItemNotFound, ErrorNameResolutionNoResults
from exchangelib.properties import ID_FORMATS, AlternateId

from sandbox import seed
from sandbox.exchange import ids
from sandbox.exchange.demo import category_list_xml

from .conftest import ALICE, BOB, make_config

LONDON = EWSTimeZone("Europe/London")
CATEGORIES_NS = "{CategoryList.xsd}"


def test_distinguished_folders_and_find_folder(env, alice):
    assert alice.root.name == "root"
    assert alice.msg_folder_root.name == "Top of Information Store"
    assert (alice.calendar.name, alice.calendar.folder_class) == ("Calendar", "IPF.Appointment")
    assert (alice.tasks.name, alice.inbox.name, alice.trash.name) == ("Tasks", "Inbox", "Deleted Items")
    assert alice.calendar.parent.name == "Top of Information Store"
    names = {f.name for f in alice.msg_folder_root.children}
    assert {"Calendar", "Tasks", "Inbox", "Deleted Items", "Contacts"} <= names
    # The calendar by FolderId as well as by DistinguishedFolderId.
    again = alice.root.get_folder(alice.calendar)
    assert again.id == alice.calendar.id and again.name == "Calendar"
    assert env.log()["requests"]["GetFolder"] >= 2


def test_other_users_mailbox_is_refused(env):
    # Alice's credentials, Bob's mailbox (DELEGATE: DistinguishedFolderId with Bob's Mailbox).
    config = make_config(env.endpoint, ALICE.email, ALICE.password)
    bobs = Account(BOB.email, config=config, autodiscover=False, access_type=DELEGATE)
    with pytest.raises(ErrorAccessDenied):
        bobs.calendar.all().count()
    # The service account may open it (full access), without impersonation.
    config = make_config(env.endpoint, *seed.SERVICE_ACCOUNT)
    svc = Account(BOB.email, config=config, autodiscover=False, access_type=DELEGATE)
    assert svc.calendar.all().count() == 0


def test_master_category_list(make_env):
    env = make_env(seed="demo")
    alice = env.account(ALICE)
    config = alice.calendar.get_user_configuration(name="CategoryList")
    root = ET.fromstring(config.xml_data)
    assert root.tag == f"{CATEGORIES_NS}categories" and root.get("default") == "Red category"
    names = [c.get("name") for c in root.iter(f"{CATEGORIES_NS}category")]
    assert "Salesforce" in names and "Customer" in names
    assert all(c.get("guid", "").startswith("{") and c.get("color") for c in root.iter(f"{CATEGORIES_NS}category"))
    # The add-in adds a category: update and read back.
    root.append(ET.Element(f"{CATEGORIES_NS}category", {"name": "SF Task", "color": "3", "guid": "{0}"}))
    alice.calendar.update_user_configuration(name="CategoryList", xml_data=ET.tostring(root))
    names = [
        c.get("name")
        for c in ET.fromstring(alice.calendar.get_user_configuration(name="CategoryList").xml_data).iter(
            f"{CATEGORIES_NS}category"
        )
    ]
    assert names[-1] == "SF Task"


def test_create_user_configuration_and_missing_one(alice):
    with pytest.raises(ErrorItemNotFound):
        alice.calendar.get_user_configuration(name="CategoryList")
    xml = category_list_xml([("Salesforce", 7)], seed=1)
    alice.calendar.create_user_configuration(name="CategoryList", xml_data=xml)
    got = alice.calendar.get_user_configuration(name="CategoryList")
    assert got.xml_data == xml and got.id


def test_convert_id_round_trips_every_format(alice):
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="ids",
        start=EWSDateTime(2026, 4, 1, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 4, 1, 10, tzinfo=LONDON),
    )
    item.save(send_meeting_invitations="SendToNone")
    converted = {}
    for fmt in ID_FORMATS:
        [alt] = alice.protocol.convert_ids(
            [AlternateId(id=item.id, format="EwsId", mailbox=ALICE.email)], destination_format=fmt
        )
        assert alt.format == fmt and alt.mailbox == ALICE.email
        converted[fmt] = alt.id
    assert converted["EwsId"] == item.id
    assert converted["HexEntryId"] == bytes.fromhex(converted["HexEntryId"]).hex().upper()
    for fmt, value in converted.items():
        [back] = alice.protocol.convert_ids([AlternateId(id=value, format=fmt, mailbox=ALICE.email)], "EwsId")
        assert back.id == item.id
    # The Office.js REST id form (convertToRestId) is accepted wherever an EWS id is.
    rest_id = ids.to_rest_id(item.id)
    assert "/" not in rest_id and "+" not in rest_id
    assert alice.calendar.get(id=rest_id).subject == "ids"


def test_resolve_names(alice):
    [bob] = alice.protocol.resolve_names([BOB.email])
    assert (bob.email_address, bob.name, bob.mailbox_type) == (BOB.email, BOB.name, "Mailbox")
    [coyote] = alice.protocol.resolve_names(["SMTP:wile.coyote@acme.test"])
    assert coyote.name == "Wile Coyote" and coyote.mailbox_type == "Contact"
    several = alice.protocol.resolve_names(["a"])  # Alice Archer, Acme... : ambiguous, still answered
    assert {m.email_address for m in several} >= {ALICE.email}
    [(mailbox, contact)] = alice.protocol.resolve_names(["Carol"], return_full_contact_data=True)
    carol = seed.REPS[2]
    assert mailbox.email_address == carol.email and contact.display_name == carol.name
    assert alice.protocol.resolve_names(["nobody-here"]) == [] or isinstance(
        alice.protocol.resolve_names(["nobody-here"])[0], ErrorNameResolutionNoResults
    )
