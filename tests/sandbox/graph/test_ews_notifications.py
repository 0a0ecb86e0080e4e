"""One store, two protocols, one event table: a change made through Graph reaches an EWS pull subscription
(exchangelib) as the CreatedEvent/ModifiedEvent/DeletedEvent a change made through EWS would."""

import datetime as dt

from exchangelib.properties import CreatedEvent, ModifiedEvent, MovedEvent

from .conftest import event_body


def _events(folder, sub_id, watermark):
    events = [e for n in folder.get_events(sub_id, watermark) for e in n.events]
    return [e for e in events if e.event_type == "item" and type(e).__name__ != "FreeBusyChangedEvent"]


def test_graph_writes_raise_ews_events(graph, ews_account, mailboxes, window):
    user = mailboxes[0]
    ews = ews_account(user)
    sub_id, watermark = ews.calendar.subscribe_to_pull()

    created = graph.post(f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(hours=9), "via Graph"))
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    events = _events(ews.calendar, sub_id, watermark)
    assert [type(e) for e in events] == [CreatedEvent]
    (item,) = ews.fetch(ids=[(events[0].item_id.id, events[0].item_id.changekey)], only_fields=["subject"])
    assert item.subject == "via Graph"

    assert graph.patch(f"/users/{user}/events/{event_id}", json={"subject": "edited via Graph"}).status_code == 200
    assert graph.delete(f"/users/{user}/events/{event_id}").status_code == 204
    later = _events(ews.calendar, sub_id, watermark)
    # Graph's DELETE moves the event to Deleted Items: a MovedEvent out of the calendar, as on Exchange.
    assert [type(e) for e in later] == [ModifiedEvent, MovedEvent]
    assert {e.item_id.id for e in later} == {events[0].item_id.id}
    assert later[1].old_parent_folder_id.id == ews.calendar.id and later[1].parent_folder_id.id == ews.trash.id
    ews.calendar.unsubscribe(sub_id)
