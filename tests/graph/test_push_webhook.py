"""The Graph webhooks (``/api/v1/graph/notifications`` and ``/lifecycle``) of the real web app over HTTPS, called
by the Graph sandbox for the subscriptions the keeper made: an Outlook edit requests one session; a wrong
clientState, an unknown subscription and our own writes request nothing; lifecycle events mark the subscription
for the keeper (reauthorize, recreate) or ask for a full round (missed); validation tokens come back decoded;
bad bodies are 400 JSON errors; the rate limit answers 429. Real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from calsync.web import create_app
from sandbox.graph import ids as graph_ids
from sync import mailboxes
from sync.connectors.base import ItemChange
from sync.models import GraphSubscription
from sync.push import record_writes
from sync.push.graph_subscriptions import client_state_hash
from sync.push.health import channels_of
from sync.push.requests import PENDING_KEY
from tests.e2e.actors import at

from .push_support import full_requested, graph_subscriptions, pending, wait_until

NOTIFY = "/api/v1/graph/notifications"
LIFECYCLE = "/api/v1/graph/lifecycle"
COUNTERS = "calsync:push:graph:webhook"


def _graph_id(ews_id: str) -> str:
    """The immutable Graph id of an item an exchangelib actor made (what the connector and notifications use)."""
    return graph_ids.immutable_id(graph_ids.parse(ews_id))


def _counters(redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in redis.hgetall(COUNTERS).items()}


def _row(engine) -> GraphSubscription:
    with engine.factory() as db:
        return db.scalars(select(GraphSubscription)).one()


def _subscribed(gengine, keeper, redis) -> int:
    """Subscribe the rep's Graph mailbox, forget the catch-up request; the mailbox id."""
    assert keeper.tick().created == 1
    redis.delete(PENDING_KEY)
    with gengine.factory() as db:
        return mailboxes.find(db, gengine.email).id


@pytest.fixture
def paused(webhook):
    """Hold the Graph sandbox's change notifications back inside the block (``with paused():``)."""
    import contextlib

    def control(value: bool) -> None:
        with webhook.http() as http:
            http.put(webhook.graph_info["admin_url"] + "/notifications", json={"paused": value}, timeout=30)

    @contextlib.contextmanager
    def hold():
        control(True)
        try:
            yield
        finally:
            control(False)

    yield hold
    control(False)


def test_an_outlook_edit_is_notified_and_requests_a_session(gengine, world, keeper, webhook, redis):
    mailbox_id = _subscribed(gengine, keeper, redis)
    outlook = world.outlook()
    item = outlook.create("Pushed pricing review", at(2, 10), at(2, 11))
    graph_id = _graph_id(item)

    delivery = webhook.wait_for_delivery(
        lambda d: d["kind"] == "change" and any(n["resourceData"]["id"] == graph_id for n in d["payload"]["value"])
    )
    assert delivery["status"] == 202
    assert list(pending(redis)) == [mailbox_id]
    counters = _counters(redis)
    assert counters["notifications"] >= 1 and counters["enqueued"] >= 1 and "echoes" not in counters
    channel = channels_of(redis, mailbox_id, ["graph-webhook"])["graph-webhook"]
    assert channel["state"] == "up" and int(channel["notifications"]) >= 1
    assert _row(gengine).last_notification_at is not None

    seen = len(webhook.deliveries("change"))
    outlook.edit(item, subject="Pushed pricing review (moved)")
    wait_until(lambda: len(webhook.deliveries("change")) > seen, what="the edit's notification")
    assert list(pending(redis)) == [mailbox_id]  # still one request: the session has not taken it yet


def test_a_wrong_client_state_or_an_unknown_subscription_enqueues_nothing(gengine, world, keeper, webhook, redis):
    _subscribed(gengine, keeper, redis)
    item = world.outlook().create("Forgery bait", at(3, 10), at(3, 11))
    graph_id = _graph_id(item)
    real = webhook.wait_for_delivery(
        lambda d: d["kind"] == "change" and any(n["resourceData"]["id"] == graph_id for n in d["payload"]["value"])
    )
    redis.delete(PENDING_KEY)
    forged = copy.deepcopy(real["payload"])
    for note in forged["value"]:
        note["clientState"] = "guessed"
    unknown = copy.deepcopy(real["payload"])
    for note in unknown["value"]:
        note["subscriptionId"] = "00000000-0000-0000-0000-000000000000"
    missing = copy.deepcopy(real["payload"])
    for note in missing["value"]:
        note.pop("clientState")
    before = _counters(redis)
    with webhook.http() as http:
        for payload in (forged, unknown, missing):
            answer = http.post(webhook.url + NOTIFY, json=payload, timeout=10)
            assert answer.status_code == 202, answer.text
    assert pending(redis) == {}
    after = _counters(redis)
    n = len(real["payload"]["value"])
    assert after["client_state_mismatch"] - before.get("client_state_mismatch", 0) == 2 * n
    assert after["unknown_subscription"] - before.get("unknown_subscription", 0) == n
    assert after.get("enqueued", 0) == before.get("enqueued", 0)


def test_the_notifications_of_our_own_writes_request_nothing(gengine, world, keeper, webhook, redis, paused):
    mailbox_id = _subscribed(gengine, keeper, redis)
    item = world.outlook().create("Echo chamber", at(4, 10), at(4, 11))
    graph_id = _graph_id(item)
    webhook.wait_for_delivery(
        lambda d: d["kind"] == "change" and any(n["resourceData"]["id"] == graph_id for n in d["payload"]["value"])
    )
    redis.delete(PENDING_KEY)
    echoes = _counters(redis).get("echoes", 0)
    calendar = gengine.runtime.exchange(gengine.email, gengine.settings)
    try:
        # As a session does: write, then record the (id, change key) written, before Graph notifies.
        with paused():
            [current] = calendar.fetch([graph_id])
            [written] = calendar.update([ItemChange(graph_id, current.change_key, {"subject": "Echo chamber (ours)"})])
            assert written.ok and written.change_key != current.change_key
            record_writes(redis, mailbox_id, "exchange", [(written.item_id, written.change_key)])
    finally:
        calendar.close()
    ours = {"id": graph_id, "@odata.etag": f'W/"{written.change_key}"'}
    delivery = webhook.wait_for_delivery(
        lambda d: (
            d["kind"] == "change" and any(ours.items() <= n["resourceData"].items() for n in d["payload"]["value"])
        )
    )
    assert delivery["status"] == 202
    assert _counters(redis)["echoes"] == echoes + 1
    assert pending(redis) == {}

    # Somebody else's edit after ours has another change key: it syncs.
    world.outlook().edit(item, subject="Echo chamber (theirs)")
    wait_until(lambda: mailbox_id in pending(redis), what="a request for the edit after ours")


def test_validation_tokens_come_back_decoded_as_plain_text(webhook, redis):
    token = "Validation: a+b/c=d & more é"
    with webhook.http() as http:
        for path in (NOTIFY, LIFECYCLE):
            answer = http.post(webhook.url + path, params={"validationToken": token},
                               headers={"Content-Type": "text/plain"}, data=b"", timeout=10)  # fmt: skip
            assert answer.status_code == 200
            assert answer.headers["Content-Type"].startswith("text/plain")
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.text == token
        empty = http.post(webhook.url + NOTIFY + "?validationToken=", timeout=10)
        assert empty.status_code == 400 and empty.json()["error"]["code"] == "invalid_notification"
    assert _counters(redis)["validations"] == 2


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"not json at all", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"value": "nope"}', "application/json"),
        (b"{}", "application/json"),
        (b'{"value": [1', "text/plain"),
    ],
)
def test_a_body_that_is_not_a_notification_batch_is_a_400_json_error(webhook, body, content_type):
    with webhook.http() as http:
        answer = http.post(webhook.url + NOTIFY, data=body, headers={"Content-Type": content_type}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_notification"


def test_malformed_items_are_counted_and_an_oversized_body_is_refused(webhook, redis):
    with webhook.http() as http:
        answer = http.post(webhook.url + NOTIFY, json={"value": [1, {"subscriptionId": 5}, {"clientState": "x"}]},
                           timeout=10)  # fmt: skip
        assert answer.status_code == 202
        huge = http.post(webhook.url + NOTIFY, data=b'{"value": ["' + b"x" * (1024 * 1024) + b'"]}',
                         headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_entity_too_large"
    assert _counters(redis)["malformed"] == 3
    assert pending(redis) == {}


def test_a_missed_lifecycle_event_asks_for_a_full_round(gengine, keeper, webhook, graph_info, redis):
    mailbox_id = _subscribed(gengine, keeper, redis)
    [sub] = graph_subscriptions(graph_info)
    with webhook.http() as http:
        sent = http.post(f"{graph_info['admin_url']}/subscriptions/{sub['id']}/lifecycle", json={"event": "missed"},
                         timeout=30).json()  # fmt: skip
    assert sent["status"] == 202 and sent["url"] == webhook.url + LIFECYCLE
    assert list(pending(redis)) == [mailbox_id]
    assert full_requested(redis, mailbox_id)
    assert _counters(redis)["lifecycle:missed"] == 1


def test_reauthorization_required_is_marked_and_the_keeper_reauthorizes(gengine, keeper, webhook, graph_info,
                                                                        graph_admin, redis):  # fmt: skip
    _subscribed(gengine, keeper, redis)
    [sub] = graph_subscriptions(graph_info)
    with webhook.http() as http:
        http.post(f"{graph_info['admin_url']}/subscriptions/{sub['id']}/lifecycle",
                  json={"event": "reauthorizationRequired"}, timeout=30).raise_for_status()  # fmt: skip
    assert _row(gengine).reauthorize_requested_at is not None
    assert pending(redis) == {}  # nothing to sync: the subscription only needs new authorization
    report = keeper.tick()
    assert report.reauthorized == 1 and report.requests == 1, report.as_dict()
    assert graph_admin.requests()["subscriptions.reauthorize"] == 1
    assert _row(gengine).reauthorize_requested_at is None
    assert keeper.tick().requests == 0


def test_a_removed_subscription_is_marked_down_and_recreated(gengine, keeper, webhook, graph_info, redis):
    mailbox_id = _subscribed(gengine, keeper, redis)
    [sub] = graph_subscriptions(graph_info)
    with webhook.http() as http:
        http.post(f"{graph_info['admin_url']}/subscriptions/{sub['id']}/lifecycle",
                  json={"event": "subscriptionRemoved"}, timeout=30).raise_for_status()  # fmt: skip
    assert _row(gengine).removed_at is not None
    assert channels_of(redis, mailbox_id, ["graph-webhook"])["graph-webhook"]["state"] == "down"
    assert graph_subscriptions(graph_info) == []
    report = keeper.tick()
    assert report.recreated == 1, report.as_dict()
    [new] = graph_subscriptions(graph_info)
    assert new["id"] != sub["id"] and _row(gengine).subscription_id == new["id"]
    assert mailbox_id in pending(redis)  # the gap's changes were never notified
    assert channels_of(redis, mailbox_id, ["graph-webhook"])["graph-webhook"]["state"] == "up"


def test_the_webhook_rate_limit_answers_429_with_retry_after(graph_settings, redis):
    app = create_app(replace(graph_settings, graph_webhook_rate_limit="3/minute"))
    client = app.test_client()
    answers = [client.post(NOTIFY, json={"value": []}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[-1].json["error"]["code"] == "rate_limited" and int(answers[-1].headers["Retry-After"]) >= 1


def test_without_redis_notifications_are_refused_with_503_for_graph_to_deliver_again(graph_settings, gengine):
    with gengine.factory() as db:
        mailbox = mailboxes.find(db, gengine.email)
        db.add(GraphSubscription(subscription_id="sub-1", mailbox_id=mailbox.id, mailbox_email=mailbox.email,
                                 resource="/users/x/events", client_state_hash=client_state_hash("secret"),
                                 expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))  # fmt: skip
        db.commit()
    app = create_app(replace(graph_settings, redis_url="redis://127.0.0.1:1/14", graph_webhook_rate_limit=""))
    note = {"subscriptionId": "sub-1", "clientState": "secret", "changeType": "updated", "resourceData": {"id": "i"}}
    answer = app.test_client().post(NOTIFY, json={"value": [note]})
    assert answer.status_code == 503 and answer.json["error"]["code"] == "push_unavailable"
