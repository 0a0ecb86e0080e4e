"""Change notifications: the validation handshake to an HTTPS notification URL, change notifications for writes
through Graph and through EWS, lifecycle notifications, renewal and deletion."""

import datetime as dt
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import event_body


class Receiver:
    """An HTTPS webhook endpoint (stdlib only) that answers Graph's validation and records notifications."""

    def __init__(self, cert_file, key_file, validate: bool = True) -> None:
        self.notifications: list[dict] = []
        self.validations: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                query = parse_qs(urlsplit(self.path).query)
                if "validationToken" in query:
                    token = query["validationToken"][0]
                    receiver.validations.append(token)
                    answer = token.encode() if validate else b"nope"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                receiver.notifications.append(json.loads(raw))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [n for body in self.notifications for n in body["value"] if predicate(n)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching notification in {self.notifications}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(running):
    made = Receiver(running.tls.cert_file, running.tls.key_file)
    yield made
    made.close()


def _expiry(minutes: int = 60) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_subscription_validates_and_notifies_graph_and_ews_writes(graph, ews_account, receiver, mailboxes, window):
    user = mailboxes[2]
    created = graph.post(
        "/subscriptions",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": receiver.url,
            "lifecycleNotificationUrl": receiver.url,
            "resource": f"/users/{user}/events",
            "expirationDateTime": _expiry(),
            "clientState": "secret-state",
        },
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert len(receiver.validations) == 2  # notification and lifecycle URLs are both validated

    event = graph.post(f"/users/{user}/events", json=event_body(window[0], "notify me")).json()
    [note] = receiver.wait_for(lambda n: n["changeType"] == "created" and n["resourceData"]["id"] == event["id"])
    assert note["subscriptionId"] == sub["id"] and note["clientState"] == "secret-state"
    assert note["resource"].endswith(f"/Events/{event['id']}")

    # A write through EWS (the same store) notifies as well.
    [item] = list(ews_account(user).calendar.filter(subject="notify me"))
    item.subject = "notified"
    item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    receiver.wait_for(lambda n: n["changeType"] == "updated" and n["resourceData"]["id"] == event["id"])
    graph.delete(f"/users/{user}/events/{event['id']}")
    receiver.wait_for(lambda n: n["changeType"] == "deleted" and n["resourceData"]["id"] == event["id"])

    renewed = graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": _expiry(120)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] != sub["expirationDateTime"]
    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [sub["id"]]
    assert graph.post(f"/subscriptions/{sub['id']}/reauthorize").status_code == 204

    graph.control("POST", f"/subscriptions/{sub['id']}/lifecycle", {"event": "reauthorizationRequired"})
    receiver.wait_for(lambda n: n.get("lifecycleEvent") == "reauthorizationRequired")
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_subscription_refuses_http_bad_validation_and_far_expiry(graph, running, mailboxes):
    user = mailboxes[2]
    base = {"changeType": "created", "resource": f"/users/{user}/events", "expirationDateTime": _expiry()}
    http = graph.post("/subscriptions", json={**base, "notificationUrl": "http://localhost:1/notify"})
    assert http.status_code == 400 and http.json()["error"]["code"] == "ValidationError"
    liar = Receiver(running.tls.cert_file, running.tls.key_file, validate=False)
    try:
        failed = graph.post("/subscriptions", json={**base, "notificationUrl": liar.url})
        assert failed.status_code == 400 and failed.json()["error"]["code"] == "ValidationError"
    finally:
        liar.close()
    far = graph.post(
        "/subscriptions",
        json={**base, "notificationUrl": "https://localhost:1/x", "expirationDateTime": _expiry(20_000)},
    )
    assert far.status_code == 400
    on_prem = graph.post(
        "/subscriptions",
        json={
            **base,
            "notificationUrl": "https://localhost:1/x",
            "resource": f"/users/{graph.info['on_premises'][0]}/events",
        },
    )
    assert on_prem.status_code == 404


def test_a_subscription_created_with_immutable_ids_notifies_immutable_ids(graph, receiver, mailboxes, window):
    user = mailboxes[2]
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    created = graph.post(
        "/subscriptions",
        json={"changeType": "created,updated", "notificationUrl": receiver.url, "resource": f"/users/{user}/events",
              "expirationDateTime": _expiry(), "clientState": "s"},
        headers=immutable,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    event = graph.post(f"/users/{user}/events", json=event_body(window[0], "immutable"), headers=immutable).json()
    default_id = graph.get(f"/users/{user}/events/{event['id']}").json()["id"]
    assert default_id != event["id"]  # two formats of one item
    [note] = receiver.wait_for(lambda n: n["resourceData"]["id"] in (event["id"], default_id))
    assert note["resourceData"]["id"] == event["id"]
    assert note["resourceData"]["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert graph.delete(f"/subscriptions/{created.json()['id']}").status_code == 204


def test_paused_notifications_are_held_back_and_delivered_after(graph, receiver, mailboxes, window):
    user = mailboxes[2]
    created = graph.post(
        "/subscriptions",
        json={"changeType": "created", "notificationUrl": receiver.url, "resource": f"/users/{user}/events",
              "expirationDateTime": _expiry()},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    graph.control("PUT", "/notifications", {"paused": True})
    try:
        event = graph.post(f"/users/{user}/events", json=event_body(window[0], "held back")).json()
        time.sleep(0.6)  # three looks of the watcher
        assert not [n for body in receiver.notifications for n in body["value"]]
    finally:
        graph.control("PUT", "/notifications", {"paused": False})
    receiver.wait_for(lambda n: n["resourceData"]["id"] == event["id"])
    assert graph.delete(f"/subscriptions/{created.json()['id']}").status_code == 204


def test_the_listing_pages_with_next_links_and_never_shows_the_client_state(graph, receiver, mailboxes):
    """GET /subscriptions as Graph's reference describes it: the app's own subscriptions, ``clientState`` null
    ("not returned for security purposes"), further pages behind ``@odata.nextLink``."""
    made = [graph.post("/subscriptions", json={
        "changeType": "updated", "notificationUrl": receiver.url, "resource": f"/users/{mailboxes[k]}/events",
        "expirationDateTime": _expiry(), "clientState": f"secret-{k}"}).json()["id"] for k in range(3)]  # fmt: skip
    try:
        graph.control("PUT", "/notifications", {"list_page_size": 2})
        first = graph.get("/subscriptions").json()
        assert len(first["value"]) == 2 and first["@odata.context"].endswith("$metadata#subscriptions")
        second = graph.get(first["@odata.nextLink"]).json()
        assert "@odata.nextLink" not in second
        listed = first["value"] + second["value"]
        assert [s["id"] for s in listed] == made
        assert all(s["clientState"] is None for s in listed)
        assert graph.get(f"/subscriptions/{made[0]}").json()["clientState"] == "secret-0"
        assert graph.get("/subscriptions", params={"$skiptoken": "x"}).status_code == 400
    finally:
        graph.control("PUT", "/notifications", {"list_page_size": 100})
        for sub_id in made:
            graph.delete(f"/subscriptions/{sub_id}")
