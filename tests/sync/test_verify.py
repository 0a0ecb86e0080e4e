"""`sync.verify.compare`, the pure comparison of `calsync verify`: one row per situation, with the findings it
must give (kind, ids, fields) and, where a plan is given, the planner's decision attached to them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sync.entry import TASK, Attendee, Side, project
from sync.planner import ChangeType, LinkStatus, new_sync_key, plan
from sync.policies import DescriptionMode, Direction, Policy, PrivateItems
from sync.verify import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, KINDS, VerifyInputs, VerifyReport, compare, total
from tests.sync.factories import (
    MAILBOX,
    NOW,
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

E = event("Quarterly review", location="Room 1", body="Agenda")
L = link_for(E)


def run(links=(), ex=(), sf=(), pol=None, **kw) -> VerifyReport:
    return compare(VerifyInputs(mailbox=MAILBOX, links=list(links), exchange=list(ex), salesforce=list(sf),
                                policies=pol or policies(), now=NOW, **kw))  # fmt: skip


def kinds(report: VerifyReport) -> list[str]:
    return [f.kind for f in report.findings]


# -- (links, Exchange side, Salesforce side, policy) → findings ---------------------------------------------
CASES = {
    "a converged pair": ([L], [ex_changed(E)], [sf_changed(E)], None, []),
    "nothing at all": ([], [], [], None, []),
    "subject edited in Salesforce": (
        [L],
        [ex_changed(E)],
        [sf_changed(E.replace(subject="Moved"))],
        None,
        ["fields_differ"],
    ),
    "tentative in Outlook, busy in Salesforce (lossy: equal)": (
        [L],
        [ex_changed(E.replace(show_as="tentative"))],
        [sf_changed(E)],
        None,
        [],
    ),
    "private and masked: Salesforce shows the mask": (
        [link_for(E.replace(is_private=True))],
        [ex_changed(E.replace(is_private=True))],
        [sf_changed(E.replace(is_private=True, subject="Private appointment", body="", location=""))],
        policies(private_items=PrivateItems.MASKED),
        [],
    ),
    "an Outlook body edit under description=once (never goes up)": (
        [L],
        [ex_changed(E.replace(body="Outlook notes"))],
        [sf_changed(E)],
        policies(description=DescriptionMode.ONCE),
        [],
    ),
    "a meeting's body under description=once (never comes down)": (
        [link_for(E.replace(attendees=(Attendee("bob@example.com"),)))],
        [ex_changed(E.replace(attendees=(Attendee("bob@example.com"),)))],
        [sf_changed(E.replace(body="Other"))],
        policies(description=DescriptionMode.ONCE),
        [],
    ),
    "Salesforce's body not come down under description=once": (
        [L],
        [ex_changed(E)],
        [sf_changed(E.replace(body="Other"))],
        policies(description=DescriptionMode.ONCE),
        ["fields_differ"],
    ),
    "bodies apart under description=two_way": (
        [L],
        [ex_changed(E)],
        [sf_changed(E.replace(body="Other"))],
        policies(description=DescriptionMode.TWO_WAY),
        ["fields_differ"],
    ),
    "Outlook item deleted": ([L], [ex_gone()], [sf_changed(E)], None, ["exchange_gone"]),
    "Outlook item not found": ([L], [ex_gone(type=ChangeType.NOT_FOUND)], [sf_changed(E)], None, ["exchange_gone"]),
    "Salesforce record deleted": ([L], [ex_changed(E)], [sf_gone()], None, ["salesforce_gone"]),
    "both gone": ([L], [ex_gone()], [sf_gone()], None, ["exchange_gone", "salesforce_gone"]),
    "tombstone: neither side matters": (
        [replace(L, state=LinkStatus.UNLINKED)],
        [],
        [sf_changed(E, sync_key="key-1")],
        None,
        [],
    ),
    "tagged in Outlook, no link": ([], [ex_changed(E)], [], None, ["exchange_only"]),
    "tagged in Outlook, out of scope": ([], [ex_changed(event(days=400))], [], None, []),
    "private Outlook item under skip": ([], [ex_changed(E.replace(is_private=True))], [], None, []),
    "Outlook item under downsync_only": ([], [ex_changed(E)], [], policies(direction=Direction.DOWNSYNC_ONLY), []),
    "a linked meeting cancelled by its organiser": (
        [L],
        [ex_changed(E, is_cancelled=True)],
        [sf_changed(E)],
        None,
        ["exchange_gone"],
    ),
    "a cancelled meeting with no link": ([], [ex_changed(E, is_cancelled=True)], [], None, []),
    "Salesforce record, no key, no link": ([], [], [sf_changed(E)], None, ["salesforce_only"]),
    "Salesforce record, no key, out of scope": ([], [], [sf_changed(event(days=-400))], None, []),
    "Salesforce record with an unknown key": (
        [],
        [],
        [sf_changed(event(days=-400), sync_key="lost")],
        None,
        ["salesforce_unlinked"],
    ),
    "a second record carries the link's key": (
        [L],
        [ex_changed(E)],
        [sf_changed(E), sf_changed(E, "sf-2", sync_key="key-1")],
        None,
        ["duplicate_salesforce"],
    ),
    "an unlinked copy of the linked record": (
        [L],
        [ex_changed(E)],
        [sf_changed(E), sf_changed(E, "sf-2")],
        None,
        ["duplicate_salesforce"],
    ),
    "an Outlook copy keeps the sync key": (
        [L],
        [ex_changed(E, sync_key="key-1"), ex_changed(E.replace(subject="Copy"), "ex-2", sync_key="key-1")],
        [sf_changed(E)],
        None,
        ["duplicate_exchange"],
    ),
    "an unlinked Outlook copy of the linked item": (
        [L],
        [ex_changed(E), ex_changed(E, "ex-2")],
        [sf_changed(E)],
        None,
        ["duplicate_exchange"],
    ),
    "two live links name one record": (
        [L, link_for(E, key="key-2", ex_id="ex-2")],
        [ex_changed(E), ex_changed(E, "ex-2")],
        [sf_changed(E)],
        None,
        ["duplicate_link"],
    ),
    "a pending create cut short before Salesforce": (
        [replace(L, salesforce_id=None, state=LinkStatus.PENDING)],
        [ex_changed(E)],
        [],
        None,
        ["exchange_only"],
    ),
    "a pending create whose record has the key": (
        [replace(L, salesforce_id=None, state=LinkStatus.PENDING)],
        [ex_changed(E)],
        [sf_changed(E, sync_key="key-1")],
        None,
        [],
    ),
    "Outlook item that cannot be mapped": ([], [replace(ex_changed(E), entry=None)], [], None, ["cannot_sync"]),
    "a joined Event is its organiser's to compare": (
        [replace(L, joined=True)],
        [ex_changed(E)],
        [sf_changed(E.replace(subject="Organiser's"))],
        None,
        [],
    ),
    "a pair outside the scope is not compared": (
        [link_for(event(days=400))],
        [ex_changed(event(days=400))],
        [sf_changed(event("Else", days=400))],
        None,
        [],
    ),
    "the record is another mailbox's": ([], [], [sf_changed(E, sync_key="theirs")], None, []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_compare(name):
    links, ex, sf, pol, expected = CASES[name]
    known = frozenset({"theirs"})
    report = run(links, ex, sf, pol, known_elsewhere=known)
    assert kinds(report) == expected, [f.to_json() for f in report.findings]
    assert report.exit_code == (EXIT_FINDINGS if expected else EXIT_CLEAN)
    assert all(f.kind in KINDS for f in report.findings)
    json.dumps(report.to_json())  # always plain JSON


def test_a_field_difference_names_the_fields_and_both_values():
    report = run([L], [ex_changed(E)], [sf_changed(E.replace(subject="Moved", location="Room 2"))])
    (finding,) = report.findings
    assert (finding.sync_key, finding.exchange_id, finding.salesforce_id) == ("key-1", "ex-1", "sf-1")
    assert [(d.field, d.exchange, d.salesforce) for d in finding.fields] == [
        ("subject", "Quarterly review", "Moved"), ("location", "Room 1", "Room 2")]  # fmt: skip


def test_the_time_is_one_field_with_both_timings():
    moved = E.replace(start=E.start + timedelta(hours=1), end=E.end + timedelta(hours=1))
    (finding,) = run([L], [ex_changed(E)], [sf_changed(moved)]).findings
    (diff,) = finding.fields
    assert diff.field == "when" and diff.exchange == project(E)["when"] and diff.salesforce == project(moved)["when"]


def test_long_values_are_cut_in_the_report():
    pol = policies(description=DescriptionMode.TWO_WAY)
    report = run([L], [ex_changed(E.replace(body="x" * 5000))], [sf_changed(E)], pol)
    shown = report.to_json()["findings"][0]["fields"][0]
    assert shown["field"] == "body" and len(shown["exchange"]) == 301


def test_findings_carry_the_planners_decision():
    """The next session's plan (here: the planner on the same inputs) says which side it writes."""
    pol = policies()
    edited = [sf_changed(E.replace(subject="Moved"))]
    nxt = plan([L], [], edited, pol, NOW, mailbox=MAILBOX)
    (finding,) = run([L], [ex_changed(E)], edited, pol, next_plan=nxt, reset_plan=None).findings
    assert finding.next_session.writes == ("exchange",)
    assert [a["action"] for a in finding.next_session.actions] == ["updated"]
    assert finding.after_reset is None  # no such plan given
    # An incremental feed that saw nothing: the next session writes nothing, and verify says so.
    quiet = plan([L], [], [], pol, NOW, mailbox=MAILBOX)
    (finding,) = run([L], [ex_changed(E)], edited, pol, next_plan=quiet).findings
    assert finding.next_session.writes == () and finding.next_session.actions == ()


def test_a_new_item_is_found_by_the_key_the_planner_gives_it():
    pol = policies()
    new = [ex_changed(E, "ex-9")]
    nxt = plan([], new, [], pol, NOW, mailbox=MAILBOX)
    (finding,) = run([], new, [], pol, next_plan=nxt).findings
    assert finding.kind == "exchange_only" and finding.next_session.writes == ("salesforce",)
    assert nxt.actions[0].sync_key == new_sync_key(MAILBOX, Side.EXCHANGE, "ex-9")


def test_health_codes_of_the_plan_are_attached():
    pol = policies()
    private = [ex_changed(E.replace(is_private=True), "ex-9")]
    nxt = plan([], private, [], pol, NOW, mailbox=MAILBOX)
    assert nxt.health  # private_item_skipped
    report = run([], private, [sf_changed(E, "sf-9")], pol, next_plan=nxt)
    assert kinds(report) == ["salesforce_only"]  # the private item stays in Outlook by design


def test_tasks_compare_as_salesforce_sends_them_down():
    t = entry_for_kind(TASK)
    link = link_for(t, origin=Side.SALESFORCE)
    assert kinds(run([link], [ex_changed(t)], [sf_changed(t)])) == []
    assert kinds(run([link], [ex_changed(t)], [sf_changed(t.replace(subject="Due"))])) == ["fields_differ"]
    # A tagged Outlook item of a task kind with no link: tasks only flow down, so not a finding.
    assert kinds(run([], [ex_changed(t, "ex-5")], [])) == []


def test_the_order_of_inputs_does_not_matter():
    ex = [ex_changed(E), ex_changed(E.replace(subject="A"), "ex-2"), ex_changed(E.replace(subject="B"), "ex-3")]
    sf = [sf_changed(E.replace(subject="Moved")), sf_changed(E.replace(subject="C"), "sf-3", sync_key="lost")]
    one = run([L], ex, sf).to_json()
    other = run([L], list(reversed(ex)), list(reversed(sf))).to_json()
    assert one == other and len(one["findings"]) == 4


def test_the_report_and_the_total():
    ok = run([L], [ex_changed(E)], [sf_changed(E)])
    found = run([], [ex_changed(E)], [])
    failed = VerifyReport(mailbox="b@example.com", status="failed", error="ConnectorError: 503")
    assert (ok.exit_code, found.exit_code, failed.exit_code) == (EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR)
    assert total([ok, found]) == {"mailboxes": 2, "failed": 0, "with_findings": 1, "findings": 1,
                                  "summary": {"exchange_only": 1}, "exit_code": EXIT_FINDINGS}  # fmt: skip
    assert total([ok, found, failed])["exit_code"] == EXIT_ERROR
    assert total([])["exit_code"] == EXIT_CLEAN
    data = found.to_json()
    assert data["summary"] == {"exchange_only": 1} and data["counts"]["exchange_items"] == 1


def test_policy_for_off_kinds_is_not_compared():
    pol = policies(Policy(kind=TASK, direction=Direction.OFF))
    t = entry_for_kind(TASK)
    assert kinds(run([], [ex_changed(t, "ex-5")], [], pol)) == []


def test_lost_link_rows_pair_each_record_with_its_outlook_item():
    """A restored database without the links: a record's key names its Outlook item (the item carries the key,
    or the item was the pair's origin and its id gives the key); one finding per pair, naming both."""
    origin_key = new_sync_key(MAILBOX, Side.EXCHANGE, "ex-1")
    b, c = E.replace(subject="B"), E.replace(subject="C")
    made_from_sf = new_sync_key(MAILBOX, Side.SALESFORCE, "sf-3")  # the record itself carries no key then
    ex = [ex_changed(E), ex_changed(b, "ex-2", sync_key="k2"), ex_changed(c, "ex-3", sync_key=made_from_sf)]
    sf = [sf_changed(E, sync_key=origin_key), sf_changed(b, "sf-2", sync_key="k2"), sf_changed(c, "sf-3")]
    report = run([], ex, sf)
    assert sorted((f.kind, f.salesforce_id, f.exchange_id) for f in report.findings) == [
        ("salesforce_unlinked", "sf-1", "ex-1"), ("salesforce_unlinked", "sf-2", "ex-2"),
        ("salesforce_unlinked", "sf-3", "ex-3")]  # fmt: skip


def test_open_health_entries_of_the_items_are_named():
    report = run([], [ex_changed(E, "ex-7")], [], open_health={"exchange:ex-7": ["duration_over_14_days"],
                                                                "exchange:other": ["x"]})  # fmt: skip
    assert report.findings[0].health == ("duration_over_14_days",)
