"""Planner behaviour beyond the policy table: field-by-field merge, echoes, lossy fields, description once,
attendees, private items, read-only meetings, new items, the guard, off, adoption and pending creates."""

from __future__ import annotations

from datetime import timedelta

from sync.entry import EVENT, TASK, Attendee, Side, project
from sync.mapping import issues as codes
from sync.planner import (
    EXCHANGE_READ_ONLY,
    MASS_DELETION_GUARD,
    NOT_SENT_UP,
    PRIVATE_ITEM_SKIPPED,
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    ExchangeChange,
    LinkStatus,
    SalesforceChange,
    SharedRelations,
    Unlink,
    UpdateExchange,
    UpdateLinkBase,
    UpdateSalesforce,
    new_sync_key,
    plan,
)
from sync.policies import (
    ConflictWinner,
    DescriptionMode,
    Direction,
    Policy,
    PrivateItems,
    SalesforceDeletion,
)
from tests.sync.factories import (
    MAILBOX,
    NOW,
    all_day,
    entry_for_kind,
    event,
    ex_changed,
    ex_gone,
    link_for,
    policies,
    replace,
    sf_changed,
    sf_gone,
)

BASE = event("Review", location="Room 1", body="Agenda")


def run(links, ex=(), sf=(), people=None, meetings=None, **policy_settings):
    extra = policy_settings.pop("extra", ())
    return plan(
        list(links), list(ex), list(sf), policies(*extra, **policy_settings), NOW, mailbox=MAILBOX,
        people=people, meetings=meetings,
    )  # fmt: skip


def names(result):
    return sorted(type(a).__name__ for a in result.actions)


def only(result, cls):
    (action,) = result.of_type(cls)
    return action


def test_fields_changed_on_one_side_each_are_merged():
    result = run(
        [link_for(BASE)], [ex_changed(BASE.replace(subject="New title"))], [sf_changed(BASE.replace(location="Room 2"))]
    )
    up, down = only(result, UpdateSalesforce), only(result, UpdateExchange)
    # Each target is the side's own current entry with the other side's changed fields applied.
    assert (up.fields, up.entry.subject, up.entry.location) == (("subject",), "New title", "Room 2")
    assert (down.fields, down.entry.location, down.entry.subject) == (("location",), "Room 2", "New title")
    base = only(result, UpdateLinkBase).link
    assert base.exchange_base["subject"] == base.salesforce_base["subject"] == "New title"
    assert base.exchange_base["location"] == base.salesforce_base["location"] == "Room 2"


def test_equal_changes_on_both_sides_cost_no_write():
    moved = BASE.replace(start=BASE.start + timedelta(hours=1), end=BASE.end + timedelta(hours=1))
    result = run([link_for(BASE)], [ex_changed(moved)], [sf_changed(moved)])
    assert result.writes == () and names(result) == ["UpdateLinkBase"]


def test_latest_conflict_winner_uses_modification_times():
    ex = ex_changed(BASE.replace(subject="Outlook"), modified_at=NOW - timedelta(minutes=1))
    sf = sf_changed(BASE.replace(subject="Salesforce"), modified_at=NOW - timedelta(minutes=2))
    result = run([link_for(BASE)], [ex], [sf], conflict_winner=ConflictWinner.LATEST)
    assert only(result, UpdateSalesforce).entry.subject == "Outlook"
    result = run(
        [link_for(BASE)],
        [replace(ex, modified_at=NOW - timedelta(minutes=3))],
        [sf],
        conflict_winner=ConflictWinner.LATEST,
    )
    assert only(result, UpdateExchange).entry.subject == "Salesforce"


def test_echoes_and_cosmetic_differences_are_not_changes():
    cosmetic = BASE.replace(subject=" Review ", body="Agenda\r\n", start=BASE.start + timedelta(seconds=30))
    result = run([link_for(BASE)], [ex_changed(cosmetic, change_key="ck-1")], [sf_changed(BASE, modstamp=None)])
    assert result.actions == ()


def test_lossy_show_as_does_not_ping_pong():
    # Salesforce has no "tentative": nothing to write, and the bases remember each side's own value.
    result = run([link_for(BASE)], [ex_changed(BASE.replace(show_as="tentative"))])
    assert result.writes == ()
    link = only(result, UpdateLinkBase).link
    assert (link.exchange_base["show_as"], link.salesforce_base["show_as"]) == ("tentative", "busy")
    again = run([link], [ex_changed(BASE.replace(show_as="tentative"), change_key=link.exchange_change_key)])
    assert again.actions == ()


def test_description_once():
    meeting = BASE.replace(attendees=(Attendee("ann@example.com"),))
    up = run([link_for(BASE)], [ex_changed(BASE.replace(body="New notes"))])
    assert up.writes == ()  # the body went up at creation only
    down = run([link_for(BASE)], [], [sf_changed(BASE.replace(body="SF notes"))])
    assert only(down, UpdateExchange).fields == ("body",)
    to_meeting = run([link_for(meeting)], [], [sf_changed(meeting.replace(body="SF notes"))])
    assert to_meeting.writes == ()  # Salesforce notes never reach a meeting with attendees
    two_way = run([link_for(BASE)], [ex_changed(BASE.replace(body="New notes"))], description=DescriptionMode.TWO_WAY)
    assert only(two_way, UpdateSalesforce).fields == ("body",)


def test_attendees_flow_up_and_only_down_when_enabled():
    ann, bob = Attendee("ann@example.com"), Attendee("bob@example.com")
    up = run([link_for(BASE)], [ex_changed(BASE.replace(attendees=(ann,)))], people={ann.email: ("Contact", "003A")})
    assert only(up, UpdateSalesforce).fields == ("attendees",)
    meeting = BASE.replace(attendees=(ann,))
    sf_added = sf_changed(meeting.replace(attendees=(bob,)))
    assert run([link_for(meeting)], [], [sf_added]).writes == ()
    down = only(run([link_for(meeting)], [], [sf_added], attendees_to_exchange=True), UpdateExchange)
    assert [a.email for a in down.entry.attendees] == ["ann@example.com", "bob@example.com"]  # added, never removed


def test_private_items_skip_masked_full():
    private = event("Doctor", body="Details", location="Clinic", is_private=True)
    new = ex_changed(private, ex_id="ex-9")
    skipped = run([], [new])
    assert [h.code for h in skipped.health] == [PRIVATE_ITEM_SKIPPED] and skipped.writes == ()
    masked = only(run([], [new], private_items=PrivateItems.MASKED), CreateInSalesforce)
    assert (masked.entry.subject, masked.entry.body, masked.entry.location, masked.entry.is_private) == (
        "Private appointment",
        "",
        "",
        True,
    )
    full = only(run([], [new], private_items=PrivateItems.FULL), CreateInSalesforce)
    assert full.entry.subject == "Doctor"


def test_masked_item_keeps_its_real_subject_in_outlook():
    private = event("Doctor", is_private=True)
    link = replace(link_for(private), salesforce_base=project(private.replace(subject="Private appointment")))
    result = run([link], [], [sf_changed(private.replace(subject="Renamed in SF"))], private_items=PrivateItems.MASKED)
    assert result.writes == ()


def test_read_only_meeting_changes_flow_up_but_salesforce_edits_stay():
    link = link_for(BASE, exchange_read_only=True)
    result = run([link], [], [sf_changed(BASE.replace(subject="SF edit"))])
    assert result.writes == () and [h.code for h in result.health] == [EXCHANGE_READ_ONLY]
    up = run(
        [link],
        [ex_changed(BASE.replace(subject="Organiser edit"), is_organizer=False)],
        [sf_changed(BASE.replace(subject="SF edit"))],
        conflict_winner=ConflictWinner.SALESFORCE,
    )
    assert only(up, UpdateSalesforce).entry.subject == "Organiser edit"


def test_new_items():
    new_ex = ex_changed(BASE, ex_id="ex-9", shared=SharedRelations(who_ids=("003A",), what_id="006B"))
    create = only(run([], [new_ex]), CreateInSalesforce)
    assert create.sync_key == new_sync_key(MAILBOX, Side.EXCHANGE, "ex-9")
    assert (create.entry.who_ids, create.entry.what_id, create.link.origin) == (("003A",), "006B", Side.EXCHANGE)
    assert [h.code for h in run([], [new_ex], direction=Direction.DOWNSYNC_ONLY).health] == [NOT_SENT_UP]
    new_sf = sf_changed(BASE, sf_id="sf-9")
    for direction in (Direction.TWO_WAY, Direction.UPSYNC_ONLY, Direction.DOWNSYNC_ONLY):
        down = only(run([], [], [new_sf], direction=direction), CreateInExchange)
        assert down.entry.categories == ("Salesforce",) and down.link.created_by_sync_on_exchange
    assert run([], [], [new_sf], direction=Direction.OFF).actions == ()
    task = only(run([], [], [sf_changed(entry_for_kind(TASK), sf_id="00T1")]), CreateInExchange)
    assert task.entry.categories == ("SF Task",)


def test_scope_limits_creates_and_never_deletes():
    far = event("Far away", days=90)
    assert run([], [ex_changed(far, ex_id="ex-9")], [sf_changed(far, sf_id="sf-9")]).actions == ()
    old = event("Last year", days=-300)
    gone = run([link_for(old)], [], [sf_gone()], salesforce_deletion=SalesforceDeletion.DELETE)
    assert gone.actions == ()


def test_mapping_and_limit_issues_fail_the_pair_without_writes():
    bad = ExchangeChange(
        exchange_id="ex-1", entry=None, issues=(codes.MappingIssue(codes.UNSUPPORTED_TIME_ZONE, "?", Side.EXCHANGE),)
    )
    result = run([link_for(BASE)], [bad], [sf_changed(BASE.replace(subject="SF"))])
    assert result.writes == () and [h.code for h in result.health] == [codes.UNSUPPORTED_TIME_ZONE]
    assert only(result, UpdateLinkBase).link.state is LinkStatus.FAILED
    too_long = run([link_for(BASE)], [ex_changed(BASE.replace(subject="x" * 300))])
    assert too_long.writes == () and [h.code for h in too_long.health] == [codes.SUBJECT_TOO_LONG]
    failed = only(too_long, UpdateLinkBase).link
    # A failed pair is planned from both sides' current content (the session reads the side a feed left out).
    fixed = run([failed], [ex_changed(BASE.replace(subject="x" * 200))], [sf_changed(BASE)])
    assert only(fixed, UpdateSalesforce).entry.subject == "x" * 200
    assert only(fixed, UpdateLinkBase).link.state is LinkStatus.ACTIVE
    # Without one side's current content it waits: no write, and it stays failed (its entries stay open).
    assert run([failed], [], [sf_changed(BASE)]).actions == ()
    assert run([failed], [ex_changed(BASE.replace(subject="x" * 200))]).actions == ()


def test_cancelled_meeting_counts_as_deleted():
    result = run([link_for(BASE)], [ex_changed(BASE, is_cancelled=True)])
    assert names(result) == ["DeleteSalesforce", "Unlink"]


def test_mass_deletion_guard():
    links = [link_for(BASE, key=f"k{i}", ex_id=f"ex-{i}", sf_id=f"sf-{i}") for i in range(10)]
    allowed = run(links, [], [sf_gone(f"sf-{i}") for i in range(5)], salesforce_deletion=SalesforceDeletion.DELETE)
    assert len(allowed.of_type(DeleteExchange)) == 5 and not allowed.guard.tripped
    blocked = run(links, [], [sf_gone(f"sf-{i}") for i in range(6)], salesforce_deletion=SalesforceDeletion.DELETE)
    assert blocked.guard.tripped and blocked.writes == ()
    assert [h.code for h in blocked.health] == [MASS_DELETION_GUARD]
    empty = plan(links, [], [], policies(), NOW, mailbox=MAILBOX, exchange_full_count=0)
    assert empty.guard.tripped and "Exchange listed no items" in empty.guard.reason


def test_off_removes_only_what_sync_created_and_is_not_guarded():
    links = [link_for(BASE, key=f"k{i}", ex_id=f"ex-{i}", sf_id=f"sf-{i}", origin=Side.SALESFORCE) for i in range(8)]
    links.append(link_for(BASE, key="mine", ex_id="ex-m", sf_id="sf-m", origin=Side.EXCHANGE))
    result = run(links, direction=Direction.OFF)
    assert not result.guard.tripped
    assert len(result.of_type(DeleteExchange)) == 8 and len(result.of_type(Unlink)) == 9
    assert all(a.by_policy_off for a in result.of_type(DeleteExchange))


def test_lost_link_is_adopted_by_sync_key():
    result = run(
        [], [ex_changed(BASE, ex_id="ex-7", sync_key="key-7")], [sf_changed(BASE, sf_id="sf-7", sync_key="key-7")]
    )
    assert result.writes == ()
    link = only(result, UpdateLinkBase).link
    assert (link.sync_key, link.exchange_id, link.salesforce_id) == ("key-7", "ex-7", "sf-7")


def test_pending_create_is_completed_or_retried_with_the_same_key():
    pending = replace(link_for(BASE), state=LinkStatus.PENDING, salesforce_id=None)
    found = run([pending], [], [sf_changed(BASE, sf_id="sf-new", sync_key="key-1")])
    assert found.writes == () and only(found, UpdateLinkBase).link.salesforce_id == "sf-new"
    retried = only(run([pending], [ex_changed(BASE)]), CreateInSalesforce)
    assert retried.sync_key == "key-1" and not retried.revert


def test_copied_item_with_someone_elses_key_is_a_new_item():
    copy = ex_changed(BASE, ex_id="ex-copy", sync_key="key-1")
    create = only(run([link_for(BASE)], [copy]), CreateInSalesforce)
    assert create.sync_key == new_sync_key(MAILBOX, Side.EXCHANGE, "ex-copy")


def test_withdrawn_task_is_removed_and_comes_back():
    task = entry_for_kind(TASK)
    link = link_for(task, origin=Side.SALESFORCE)
    withdrawn = run([link], [], [SalesforceChange(salesforce_id="sf-1", type=ChangeType.WITHDRAWN, kind=TASK)])
    assert names(withdrawn) == ["DeleteExchange", "UpdateLinkBase"]
    kept = only(withdrawn, UpdateLinkBase).link
    assert kept.exchange_id is None and kept.state is LinkStatus.ACTIVE
    back = only(run([kept], [], [sf_changed(task.replace(subject="Due again"))]), CreateInExchange)
    assert back.entry.subject == "Due again" and not back.revert


def test_unshared_then_shared_again_relinks():
    unlinked = replace(link_for(BASE), state=LinkStatus.UNLINKED)
    assert run([unlinked], [], [sf_changed(BASE.replace(subject="ignored"))]).actions == ()
    result = run([unlinked], [ex_changed(BASE.replace(subject="Shared again"))])
    assert only(result, UpdateSalesforce).entry.subject == "Shared again"
    assert only(result, UpdateLinkBase).link.state is LinkStatus.ACTIVE
    deleted = replace(unlinked, salesforce_id=None)
    assert only(run([deleted], [ex_changed(BASE)]), CreateInSalesforce).sync_key == "key-1"


def test_who_and_what_chosen_in_the_add_in_go_up():
    change = ex_changed(BASE, shared=SharedRelations(who_ids=("003A",), what_id="006B"))
    up = only(run([link_for(BASE)], [change]), UpdateSalesforce)
    assert up.fields == ("who_what",) and (up.entry.who_ids, up.entry.what_id) == (("003A",), "006B")


def test_all_day_item_moves_across_sides():
    offsite = all_day("Offsite")
    moved = offsite.replace(
        start_date=offsite.start_date + timedelta(days=1), end_date=offsite.end_date + timedelta(days=2)
    )
    down = only(run([link_for(offsite)], [], [sf_changed(moved)]), UpdateExchange)
    assert down.fields == ("when",) and (down.entry.start_date, down.entry.end_date) == (
        moved.start_date,
        moved.end_date,
    )


def test_deleted_side_recreated_from_base_keeps_content():
    recreate = only(run([link_for(BASE)], [ex_gone()], direction=Direction.DOWNSYNC_ONLY), CreateInExchange)
    assert project(recreate.entry) == project(BASE.replace(categories=("Salesforce",)))
    assert recreate.revert and recreate.link.exchange_id is None


def test_task_edits_in_outlook_are_reverted():
    task = entry_for_kind(TASK)
    result = run(
        [link_for(task, origin=Side.SALESFORCE)],
        [ex_changed(task.replace(subject="Mine now"))],
        extra=(Policy(kind=TASK),),
    )
    revert = only(result, UpdateExchange)
    assert revert.revert and revert.entry.subject == task.subject
    assert EVENT  # kinds are independent: the event policy plays no part here
