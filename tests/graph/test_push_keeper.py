"""The Graph subscription keeper (`sync.push.graph_subscriptions`) against the Graph sandbox over HTTPS, through
msal and requests, with the web app serving the webhook it subscribes (the sandbox validates both URLs before
it answers 201): one subscription per Graph mailbox, renewal before expiry (sandbox clock moved), recreation of
an expired one, deletion for mailboxes moved to EWS, disabled or removed, refusals as channel health, the pass
size limit and the lock. Real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import replace

from click.testing import CliRunner
from sqlalchemy import select

from calsync.cli import main
from sandbox.seed import REPS
from sync import mailboxes
from sync.models import GraphSubscription, Mailbox
from sync.push.graph_subscriptions import LIFECYCLE_PATH, LOCK_KEY, NOTIFICATIONS_PATH, GraphSubscriptionKeeper
from sync.push.health import channels_of
from sync.runtime import Runtime

from .conftest import graph_engine
from .push_support import graph_subscriptions, pending

LIFETIME = dt.timedelta(minutes=4230)  # CALSYNC_GRAPH_SUBSCRIPTION_MINUTES' default
RENEW = dt.timedelta(minutes=720)  # CALSYNC_GRAPH_SUBSCRIPTION_RENEW_MINUTES' default


def _mailbox(engine, email: str) -> Mailbox:
    with engine.factory() as db:
        return mailboxes.find(db, email)


def _rows(engine) -> list[GraphSubscription]:
    with engine.factory() as db:
        return list(db.scalars(select(GraphSubscription).order_by(GraphSubscription.mailbox_email)))


def _channel(redis, mailbox_id: int) -> dict:
    return channels_of(redis, mailbox_id, ["graph-webhook"]).get("graph-webhook", {})


def _graph_get(info: dict, path: str) -> dict:
    """A Graph GET as calsync's app (msal token)."""
    import requests

    from tests.e2e.graph_support import MsalTokens

    with requests.Session() as http:
        http.trust_env = False
        answer = http.get(info["base_url"] + path, headers={"Authorization": f"Bearer {MsalTokens(info).token()}"},
                          verify=info["ca_file"], timeout=30)  # fmt: skip
    answer.raise_for_status()
    return answer.json()


def _graph_requests(graph_admin) -> dict[str, int]:
    return {k: v for k, v in graph_admin.requests().items() if k.startswith("subscriptions.")}


def test_each_graph_mailbox_gets_one_validated_subscription(gengine, world, keeper, webhook, graph_info, graph_admin,
                                                            redis):  # fmt: skip
    with gengine.factory() as db:
        mailboxes.add(db, REPS[1].email, REPS[1].salesforce_user_id)  # on EWS (the default backend)
        db.commit()
    mailbox = _mailbox(gengine, world.rep.email)

    report = keeper.tick()

    # A keeper's first pass also lists the app's subscriptions (the orphan sweep: none here).
    assert (report.created, report.failed, report.requests, report.orphans) == (1, {}, 2, 0), report.as_dict()
    assert _graph_requests(graph_admin) == {"subscriptions.list": 1, "subscriptions.create": 1}
    [sub] = graph_subscriptions(graph_info)
    assert sub["resource"] == f"/users/{world.rep.email}/events"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["notificationUrl"] == webhook.url + NOTIFICATIONS_PATH
    assert sub["lifecycleNotificationUrl"] == webhook.url + LIFECYCLE_PATH
    # Graph validated both URLs against the running web app before answering 201.
    validations = webhook.deliveries("validation")
    assert sorted(v["url"] for v in validations) == sorted([sub["notificationUrl"], sub["lifecycleNotificationUrl"]])
    assert all(v["ok"] for v in validations)
    [row] = _rows(gengine)
    assert (row.subscription_id, row.mailbox_id) == (sub["id"], mailbox.id)
    assert sub["clientState"] is None  # never in a listing ("not returned for security purposes")
    secret = _graph_get(graph_info, f"/subscriptions/{sub['id']}")["clientState"]
    assert row.client_state_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {row.client_state_hash, row.resource}  # the secret itself is not stored
    assert abs(row.expires_at - (dt.datetime.now(dt.UTC) + LIFETIME)) < dt.timedelta(minutes=2)
    assert _channel(redis, mailbox.id)["state"] == "up"
    assert mailbox.id in pending(redis)  # the catch-up session for what changed before the subscription

    beat = _channel(redis, mailbox.id)["updated"]
    again = keeper.tick()
    assert (again.created, again.healthy, again.requests) == (0, 1, 0), again.as_dict()
    assert len(graph_subscriptions(graph_info)) == 1
    assert _channel(redis, mailbox.id)["updated"] == beat  # a heartbeat is due every third of its TTL only
    later = keeper.tick(time.time() + 301)  # CALSYNC_GRAPH_CHANNEL_TTL 900 / 3
    assert later.requests == 0 and float(_channel(redis, mailbox.id)["updated"]) > float(beat)


def test_an_expiring_subscription_is_renewed_and_an_expired_one_recreated(gengine, world, push_settings, graph_info,
                                                                          graph_control, redis):  # fmt: skip
    # By client secret: a certificate assertion is signed with this machine's clock, which the moved sandbox clock
    # would refuse as skewed (AADSTS700024).
    runtime = Runtime.build(replace(push_settings, graph_private_key_file=""))
    keeper = GraphSubscriptionKeeper.from_runtime(runtime)
    try:
        _renew_then_recreate(gengine, world, keeper, graph_info, graph_control, redis)
    finally:
        keeper.close()
        runtime.close()


def _renew_then_recreate(gengine, world, keeper, graph_info, graph_control, redis) -> None:
    mailbox = _mailbox(gengine, world.rep.email)
    assert keeper.tick().created == 1
    [first] = _rows(gengine)

    # Just inside the renewal margin (the sandbox's clock and token issuer moved with ours).
    later = first.expires_at - RENEW + dt.timedelta(minutes=1)
    graph_control("PUT", "/clock", {"offset_seconds": later.timestamp() - time.time()})
    report = keeper.tick(later.timestamp())
    assert (report.renewed, report.created, report.failed) == (1, 0, {}), report.as_dict()
    [renewed] = _rows(gengine)
    assert renewed.subscription_id == first.subscription_id
    assert abs(renewed.expires_at - (later + LIFETIME)) < dt.timedelta(minutes=1)
    assert renewed.last_renewed_at is not None
    [sub] = graph_subscriptions(graph_info)
    assert sub["expirationDateTime"].startswith(renewed.expires_at.strftime("%Y-%m-%dT%H:%M"))

    # Past its expiry: Graph drops it; the keeper makes a new one and asks for a catch-up session.
    redis.delete("calsync:push:pending")
    gone = renewed.expires_at + dt.timedelta(minutes=5)
    graph_control("PUT", "/clock", {"offset_seconds": gone.timestamp() - time.time()})
    deadline = time.monotonic() + 10
    while graph_subscriptions(graph_info) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert graph_subscriptions(graph_info) == []
    report = keeper.tick(gone.timestamp())
    assert (report.recreated, report.failed) == (1, {}), report.as_dict()
    [recreated] = _rows(gengine)
    [sub] = graph_subscriptions(graph_info)
    assert recreated.subscription_id == sub["id"] != first.subscription_id
    assert recreated.client_state_hash != first.client_state_hash  # a new secret
    assert mailbox.id in pending(redis)
    assert _channel(redis, mailbox.id)["state"] == "up"


def test_mailboxes_moved_to_ews_disabled_or_removed_lose_their_subscription(world, graph_settings, keeper,
                                                                            graph_info, redis):  # fmt: skip
    engines = [graph_engine(graph_settings, world, rep.email) for rep in REPS[:3]]
    try:
        assert keeper.tick().created == 3
        assert len(graph_subscriptions(graph_info)) == 3
        ids = [_mailbox(engines[0], rep.email).id for rep in REPS[:3]]
        with engines[0].factory() as db:
            moved, disabled, removed = (db.get(Mailbox, i) for i in ids)
            moved.backend = "ews"
            disabled.enabled = False
            db.delete(removed)
            db.commit()
        rows = _rows(engines[0])
        assert sorted(row.mailbox_id is None for row in rows) == [False, False, True]  # removed: kept, unlinked

        report = keeper.tick()

        assert (report.deleted, report.failed) == (3, {}), report.as_dict()
        assert graph_subscriptions(graph_info) == []
        assert _rows(engines[0]) == []
        assert _channel(redis, ids[0])["state"] == "down"
    finally:
        for engine in engines:
            engine.runtime.close()


def test_without_an_https_public_url_nothing_is_asked_and_push_is_off_with_the_adaptive_interval(
    gengine, world, push_runtime, graph_admin, redis, sandbox_info_file
):
    """No usable CALSYNC_PUBLIC_URL: push is not configured (channel ``off``), which is no failure: a real
    worker's session keeps the mailbox's adaptive interval instead of the 30-minute fallback of a push that is
    down."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sync.job_queue import session_queue
    from sync.push.health import exchange_push_state
    from sync.schedule import ScheduleConfig, enqueue_session, next_interval

    mailbox = _mailbox(gengine, world.rep.email)
    for url, code in (("", "public_url_missing"), ("http://calsync.example", "public_url_not_https")):
        made = GraphSubscriptionKeeper.from_runtime(push_runtime)
        made.settings = replace(made.settings, public_url=url)
        report = made.tick()
        made.close()
        assert report.failed == {world.rep.email: code} and report.requests == 0, report.as_dict()
        assert _channel(redis, mailbox.id)["state"] == "off"
        assert code in _channel(redis, mailbox.id)["detail"]
        assert exchange_push_state(redis, mailbox.id) == "off"
    assert _graph_requests(graph_admin) == {}

    gengine.sync()  # the first (full) session: the next one is quiet
    with gengine.factory() as db:
        db.get(Mailbox, mailbox.id).sync_interval_minutes = 60
        db.commit()
    assert enqueue_session(session_queue("sync", redis), mailbox.id, ScheduleConfig()) == "enqueued"
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=gengine.settings.database_url,
               REDIS_URL=gengine.settings.redis_url, PYTHONPATH=str(root))  # fmt: skip
    env.pop("CALSYNC_PUBLIC_URL", None)
    command = [str(Path(sys.executable).with_name("calsync")), "worker", "--burst", "--name", "graph-push-off"]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "Successfully completed" in done.stdout + done.stderr, done.stderr[-3000:]
    with gengine.factory() as db:
        after = db.get(Mailbox, mailbox.id)
        interval, next_at = after.sync_interval_minutes, after.next_sync_at
    adaptive = next_interval(60, False, ScheduleConfig().intervals)
    assert adaptive != 30 and interval == adaptive  # not the fallback's 30 minutes, not the safety net's 6 hours
    assert abs((next_at - dt.datetime.now(dt.UTC)).total_seconds() - adaptive * 60) < 120


def test_a_mailbox_graph_refuses_is_down_and_tried_again_later(gengine, world, keeper, graph_info, graph_control,
                                                               graph_admin, redis):  # fmt: skip
    mailbox = _mailbox(gengine, world.rep.email)
    graph_control("PUT", "/scopes", {graph_info["client_id"]: [REPS[1].email]})  # the rep is outside the app's scope
    keeper.settings = replace(keeper.settings, graph_subscription_retry_seconds=1)

    refused = keeper.tick()
    assert refused.created == 0 and refused.failed == {world.rep.email: "ErrorAccessDenied"}, refused.as_dict()
    assert _channel(redis, mailbox.id)["state"] == "down"
    waiting = keeper.tick()  # within the retry delay: Graph is not asked again
    assert waiting.requests == 0 and waiting.failed == {world.rep.email: "ErrorAccessDenied"}

    graph_control("PUT", "/scopes", {graph_info["client_id"]: None})
    time.sleep(1.1)
    assert keeper.tick().created == 1
    assert _channel(redis, mailbox.id)["state"] == "up"


def test_a_pass_makes_at_most_its_batch_of_operations_and_one_pass_runs_at_a_time(world, graph_settings, keeper,
                                                                                   redis):  # fmt: skip
    engines = [graph_engine(graph_settings, world, rep.email) for rep in REPS[:2]]
    try:
        keeper.settings = replace(keeper.settings, graph_subscription_batch=1)
        first = keeper.tick()
        assert (first.created, first.deferred) == (1, 1), first.as_dict()
        redis.set(LOCK_KEY, "another keeper")
        blocked = keeper.tick()
        assert blocked.locked and blocked.requests == 0
        redis.delete(LOCK_KEY)
        second = keeper.tick()
        assert (second.created, second.deferred, second.healthy) == (1, 0, 1), second.as_dict()
    finally:
        for engine in engines:
            engine.runtime.close()


def test_the_cli_runs_one_pass_and_lists_the_subscriptions(gengine, world, webhook, graph_settings, sandbox_info_file,
                                                           graph_info):  # fmt: skip
    env = {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
           "DATABASE_URL": graph_settings.database_url, "REDIS_URL": graph_settings.redis_url}  # fmt: skip
    runner = CliRunner()
    refused = runner.invoke(main, ["graph-subscriptions", "sync"], env=env)
    assert refused.exit_code == 1 and f"{world.rep.email}: public_url_missing" in refused.output, refused.output

    done = runner.invoke(
        main, ["graph-subscriptions", "sync", "--json"], env={**env, "CALSYNC_PUBLIC_URL": webhook.url}
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert (report["created"], report["requests"], report["failed"]) == (1, 2, {})  # the list, the creation
    [sub] = graph_subscriptions(graph_info)
    listed = runner.invoke(main, ["graph-subscriptions", "list"], env=env)
    assert listed.exit_code == 0 and world.rep.email in listed.output and sub["id"] in listed.output


def test_the_listener_runs_the_keeper_each_pass(gengine, world, webhook, graph_settings, sandbox_info_file,
                                                graph_info, redis):  # fmt: skip
    env = {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "CALSYNC_PUBLIC_URL": webhook.url,
           "DATABASE_URL": graph_settings.database_url, "REDIS_URL": graph_settings.redis_url}  # fmt: skip
    result = CliRunner().invoke(main, ["listener", "--once"], env=env)
    assert result.exit_code == 0, result.output
    [sub] = graph_subscriptions(graph_info)
    assert sub["resource"] == f"/users/{world.rep.email}/events"
    [row] = _rows(gengine)
    assert row.subscription_id == sub["id"]
    assert _channel(redis, row.mailbox_id)["state"] == "up"


def test_an_orphaned_subscription_is_found_by_listing_and_deleted_another_deployments_kept(
    gengine, world, push_runtime, keeper, webhook, graph_info, graph_admin, redis
):
    """A keeper that crashed between Graph's 201 and saving the row left a subscription no row knows: the next
    keeper's first pass lists the app's subscriptions (GET /subscriptions, page by page) and deletes it. The
    subscription of the row, and one of the same app for another deployment (another notificationUrl), stay."""
    import requests

    from sync.push.graph_subscriptions import SWEEP_KEY, KeeperReport
    from tests.e2e.graph_support import MsalTokens

    mailbox = _mailbox(gengine, world.rep.email)
    assert keeper.tick().created == 1
    [kept] = _rows(gengine)
    # The crash: the keeper's own subscribe call went through, its row was never saved.
    crashed = GraphSubscriptionKeeper.from_runtime(push_runtime)
    try:
        orphan = crashed._subscribe(mailbox, dt.datetime.now(dt.UTC), KeeperReport())
    finally:
        crashed.close()
    # Another deployment of the same app registration: its own notification URL (validated by the same server).
    with requests.Session() as http:
        http.trust_env = False
        answer = http.post(graph_info["base_url"] + "/subscriptions", verify=graph_info["ca_file"], timeout=30,
                           headers={"Authorization": f"Bearer {MsalTokens(graph_info).token()}"}, json={
                               "changeType": "updated", "resource": f"/users/{world.rep.email}/events",
                               "notificationUrl": webhook.url + NOTIFICATIONS_PATH + "?deployment=staging",
                               "expirationDateTime": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat(),
                               "clientState": "staging"})  # fmt: skip
    answer.raise_for_status()
    foreign = answer.json()["id"]
    ids = {kept.subscription_id, orphan.subscription_id, foreign}
    assert {s["id"] for s in graph_subscriptions(graph_info)} == ids and len(ids) == 3

    # The same keeper swept at its first pass and waits CALSYNC_GRAPH_ORPHAN_SWEEP_MINUTES for the next sweep.
    assert redis.ttl(SWEEP_KEY) > 3000
    before = graph_admin.requests()["subscriptions.list"]
    assert keeper.tick().orphans == 0 and graph_admin.requests()["subscriptions.list"] == before

    # The restarted keeper sweeps at once, one subscription per page here: it follows @odata.nextLink.
    with webhook.http() as http:
        http.put(graph_info["admin_url"] + "/notifications", json={"list_page_size": 1}, timeout=30).raise_for_status()
    restarted = GraphSubscriptionKeeper.from_runtime(push_runtime)
    try:
        report = restarted.tick()
    finally:
        restarted.close()
    assert (report.orphans, report.created, report.failed) == (1, 0, {}), report.as_dict()
    assert graph_admin.requests()["subscriptions.list"] == before + 3
    left = graph_subscriptions(graph_info)
    assert {s["id"] for s in left} == {kept.subscription_id, foreign}
    assert all(s["clientState"] is None for s in left)  # a listing never shows the secret
    assert [r.subscription_id for r in _rows(gengine)] == [kept.subscription_id]
    assert _channel(redis, mailbox.id)["state"] == "up"

    # After the sweep period (its mark expired) the long-lived keeper sweeps again: nothing left to delete.
    redis.delete(SWEEP_KEY)
    before = graph_admin.requests()["subscriptions.list"]
    again = keeper.tick()
    assert again.orphans == 0 and graph_admin.requests()["subscriptions.list"] == before + 2  # two pages of one
