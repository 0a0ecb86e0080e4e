"""EWS notifications through exchangelib, for `calsync listener`: streaming and pull subscriptions on a mailbox's
calendar, GetStreamingEvents connections carrying several subscriptions, GetEvents with watermarks.

The listener (`sync.push.listener`) defines what it speaks: the plain `ItemEvent` and its errors
(`SubscriptionsLost`, `WatermarkLost`, `StreamSuperseded`, `PushError`); this module implements its `Backend`
(`EwsBackend`), and exchangelib stays in here, as it stays in ``sync.connectors`` for the sessions. A
mailbox's `EwsMailbox` is built on its session connector (``Runtime.exchange(email)``: the service account
impersonating it, or its own login, the stored connection settings and CA files), so the listener signs in
exactly as the sessions do.

EWS references: Subscribe, GetStreamingEvents, GetEvents, Unsubscribe
(https://learn.microsoft.com/exchange/client-developer/web-service-reference/ews-operations-in-exchange) and
"Streaming notifications" (one connection lasts ConnectionTimeout minutes, at most 30; a streaming subscription
lives on 30 minutes after its last connection closed; events are queued on the subscription meanwhile).

Which events count: only item events on the calendar (created, modified, deleted, moved, copied). Exchange also
sends a folder ModifiedEvent and a FreeBusyChangedEvent with each change; those carry no item version, so they
would defeat echo suppression and are not subscribed to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from exchangelib import FaultTolerance
from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidSubscription,
    ErrorInvalidWatermark,
    ErrorNewEventStreamConnectionOpened,
    ErrorSubscriptionNotFound,
    ErrorSubscriptionUnsubsribed,
    EWSError,
    TransportError,
)
from exchangelib.properties import Notification
from exchangelib.services import GetEvents, GetStreamingEvents, SubscribeToPull, SubscribeToStreaming, Unsubscribe
from exchangelib.util import MNS, get_xml_attrs

from sync.push.listener import ItemEvent, PushError, StreamSuperseded, SubscriptionsLost, WatermarkLost

log = logging.getLogger("calsync.listener")

ITEM_EVENTS = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")
# The answers that mean "this subscription is gone on the server": subscribe again (and cover the gap).
LOST = (ErrorSubscriptionNotFound, ErrorExpiredSubscription, ErrorInvalidSubscription, ErrorSubscriptionUnsubsribed)


def _failure(exc: Exception) -> PushError:
    return PushError(str(exc) or type(exc).__name__, type(exc).__name__)


def _events(notification: Notification) -> list[ItemEvent]:
    found = []
    for event in notification.events or ():
        name = type(event).__name__
        item = getattr(event, "item_id", None)
        if name in ITEM_EVENTS and item is not None and item.id:
            found.append(ItemEvent(name, item.id, item.changekey))
    return found


class _Calls:
    """Counts the EWS calls the listener makes (the issue's "count API calls"), thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def add(self, operation: str) -> None:
        with self.lock:
            self.counts[operation] = self.counts.get(operation, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


CALLS = _Calls()


class _ListenerProtocol:
    """The account's exchangelib protocol (its session pool, credentials, server), with the listener's own retry
    policy: a session waits out a busy server for minutes (CALSYNC_HTTP_TIMEOUT, the connector's back-off), while
    a listener should say "down" within seconds and try again on its own schedule. Only the listener's services
    see this view; the shared protocol keeps its policy for everyone else in the process."""

    def __init__(self, protocol: Any, retry_seconds: float) -> None:
        self._protocol = protocol
        policy = protocol.config.retry_policy
        # The connector's policy class (a 401 is a login failure, not throttling), with a shorter wait.
        self.retry_policy = type(policy)(max_wait=retry_seconds) if isinstance(policy, FaultTolerance) else policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol, name)


class _Pools:
    """Each open GetStreamingEvents connection holds one HTTP session of its protocol's pool until it ends
    (exchangelib keeps it for the streamed response), and exchangelib's pool holds one session by default: the
    pool grows with the open connections, plus room for the Subscribe and GetEvents calls beside them."""

    SPARE = 4

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, int] = {}

    def reserve(self, protocol: Any) -> None:
        with self.lock:
            count = self.open[id(protocol)] = self.open.get(id(protocol), 0) + 1
            if protocol.max_connections < count + self.SPARE:
                protocol.max_connections = count + self.SPARE

    def free(self, protocol: Any) -> None:
        with self.lock:
            self.open[id(protocol)] = max(self.open.get(id(protocol), 1) - 1, 0)


POOLS = _Pools()


class EwsMailbox:
    """Subscriptions on one mailbox's calendar, through its session connector's exchangelib account."""

    def __init__(self, connector: Any, *, retry_seconds: float = 10.0) -> None:
        self.connector = connector
        self.account = connector.account
        self.calendar = connector.calendar
        self.protocol = _ListenerProtocol(self.account.protocol, retry_seconds)
        self.email: str = connector.mailbox_email
        config = connector.config
        # Subscriptions share a connection only when the same login made them (Exchange: ErrorSubscriptionAccessDenied
        # otherwise): the service account for impersonated mailboxes, the mailbox itself for one with its own login.
        self.login_key = (config.endpoint, (config.username or config.access_token[-12:]).lower(), config.impersonation)

    def _service(self, cls: type, **kwargs: Any) -> Any:
        service = cls(account=self.account, **kwargs)
        service.protocol = self.protocol
        return service

    def subscribe_streaming(self) -> str:
        CALLS.add("Subscribe")
        try:
            return self._service(SubscribeToStreaming).get(folders=[self.calendar], event_types=ITEM_EVENTS)
        except (EWSError, TransportError, requests.RequestException) as exc:
            raise _failure(exc) from exc

    def subscribe_pull(self, watermark: str | None, timeout_minutes: int) -> tuple[str, str]:
        """(subscription id, watermark). With ``watermark``, the server replays every event after it."""
        CALLS.add("Subscribe")
        try:
            sub_id, mark = self._service(SubscribeToPull).get(
                folders=[self.calendar], event_types=ITEM_EVENTS, watermark=watermark, timeout=timeout_minutes
            )
        except ErrorInvalidWatermark as exc:
            raise WatermarkLost(str(exc), type(exc).__name__) from exc
        except (EWSError, TransportError, requests.RequestException) as exc:
            raise _failure(exc) from exc
        return sub_id, mark

    def get_events(self, sub_id: str, watermark: str) -> tuple[list[ItemEvent], str]:
        """The events after ``watermark`` (every page, following MoreEvents) and the watermark to save after
        handling them."""
        events: list[ItemEvent] = []
        service = self._service(GetEvents)
        mark = watermark
        while True:
            CALLS.add("GetEvents")
            try:
                notification = service.get(subscription_id=sub_id, watermark=mark)
            except LOST as exc:
                raise SubscriptionsLost([sub_id], type(exc).__name__, str(exc)) from exc
            except ErrorInvalidWatermark as exc:
                raise WatermarkLost(str(exc), type(exc).__name__) from exc
            except (EWSError, TransportError, requests.RequestException) as exc:
                raise _failure(exc) from exc
            events += _events(notification)
            marks = [e.watermark for e in notification.events or () if getattr(e, "watermark", None)]
            mark = marks[-1] if marks else mark
            if not notification.more_events:
                return events, mark

    def unsubscribe(self, sub_id: str) -> None:
        CALLS.add("Unsubscribe")
        try:
            self._service(Unsubscribe).get(subscription_id=sub_id)
        except LOST:
            pass  # already gone: what we wanted
        except (EWSError, TransportError, requests.RequestException) as exc:
            raise _failure(exc) from exc


class _StreamingEvents(GetStreamingEvents):
    """exchangelib's GetStreamingEvents, keeping the ids an error names (``ErrorSubscriptionIds``): exchangelib
    only appends them to the message text."""

    def __init__(self, *args: Any, on_open: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_ids: list[str] = []
        self.on_open = on_open

    def _get_soap_messages(self, body):
        # Called with the raw response once the server has answered and the stream has begun.
        if self.on_open is not None:
            self.on_open()
        yield from super()._get_soap_messages(body)

    def _get_element_container(self, message, name=None):
        holder = message.find(f"{{{MNS}}}ErrorSubscriptionIds")
        if holder is not None:
            self.error_ids = list(get_xml_attrs(holder, f"{{{MNS}}}SubscriptionId"))
        return super()._get_element_container(message=message, name=name)


class StreamConnection:
    """One GetStreamingEvents connection for several subscriptions (made by the same login), opened as the
    account of one of their mailboxes. `notifications` blocks while the server keeps the connection open
    (``minutes``) and yields (subscription id, item events) as they arrive; it returns when the server closes
    the connection (ConnectionStatus Closed) or `close` is called from another thread."""

    def __init__(self, mailbox: EwsMailbox, subscription_ids: list[str], minutes: int, *,
                 on_open: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.mailbox = mailbox
        self.ids = list(subscription_ids)
        self.minutes = minutes
        self.service = mailbox._service(_StreamingEvents, on_open=on_open)
        self.closing = threading.Event()
        self._pool = mailbox.account.protocol
        self._reserved = False

    def notifications(self) -> Iterator[tuple[str, list[ItemEvent]]]:
        CALLS.add("GetStreamingEvents")
        POOLS.reserve(self._pool)
        self._reserved = True
        try:
            for notification in self.service.call(subscription_ids=self.ids, connection_timeout=self.minutes):
                if isinstance(notification, Exception):
                    raise notification
                yield notification.subscription_id, _events(notification)
        except ErrorNewEventStreamConnectionOpened as exc:
            raise StreamSuperseded(self.service.error_ids or self.ids) from exc
        except LOST as exc:
            raise SubscriptionsLost(self.service.error_ids or self.ids, type(exc).__name__, str(exc)) from exc
        except Exception as exc:
            if self.closing.is_set():
                return  # we closed the response under the reader: not a failure
            if isinstance(exc, EWSError | TransportError | requests.RequestException | OSError):
                raise _failure(exc) from exc
            raise
        finally:
            self._release()

    def close(self) -> None:
        """End the connection from another thread (a regrouping, shutdown). Events the server had already
        written to it but we had not read are lost with it: the caller covers them."""
        self.closing.set()
        self._release()

    def _release(self) -> None:
        try:
            self.service.stop_streaming()
        except Exception:  # noqa: BLE001 - nothing left to release, or released by the other thread already
            pass
        if self._reserved:
            self._reserved = False
            POOLS.free(self._pool)


class EwsBackend:
    """The `sync.push.listener.Backend` on EWS: ``connector_for(email)`` builds a mailbox's session connector
    (``Runtime.exchange``), whose login and settings the subscriptions use."""

    def __init__(self, connector_for: Callable[[str], Any], *, retry_seconds: float = 10.0) -> None:
        self.connector_for = connector_for
        self.retry_seconds = retry_seconds

    def mailbox(self, email: str) -> EwsMailbox:
        return EwsMailbox(self.connector_for(email), retry_seconds=self.retry_seconds)

    def stream(self, mailbox: EwsMailbox, subscription_ids: list[str], minutes: int, *,
               on_open: Callable[[], None] | None = None) -> StreamConnection:  # fmt: skip
        return StreamConnection(mailbox, subscription_ids, minutes, on_open=on_open)

    def calls(self) -> dict[str, int]:
        return CALLS.snapshot()


__all__ = ["CALLS", "ITEM_EVENTS", "EwsBackend", "EwsMailbox", "StreamConnection"]
