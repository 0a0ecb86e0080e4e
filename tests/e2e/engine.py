"""Run real sync sessions in end-to-end tests: the engine with its real connectors against the sandboxes.

The ``engine`` fixture runs every test that takes it twice, once per Exchange protocol (``exchange_protocol``:
``ews``, ``graph``): the engine's mailboxes use that backend, while the actors keep making the rep's own Outlook
edits through exchangelib on the same store (the EWS and Graph sandboxes share one). At teardown it checks the
sandboxes' meeting-message log: no write of the engine sent an invitation, update or cancellation (on EWS also:
every engine write asked for ``SendToNone``), unless the test said it expects messages
(``engine.expect_meeting_messages = True``, the ``notify_attendees`` tests).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from calsync.settings import Settings
from sandbox.graph import ids as graph_ids
from sandbox.seed import rep_by_email
from sync import mailboxes, policy_store
from sync.models import HealthEntry, Link
from sync.policies import Policy, PolicySet
from sync.runtime import Runtime
from sync.session import SessionResult, run_session
from tests.e2e.actors import World


@dataclass
class Engine:
    settings: Settings
    world: World
    email: str
    protocol: str = "ews"  # the backend of the mailboxes this engine adds (`add_mailbox`)
    expect_meeting_messages: bool = False

    def __post_init__(self) -> None:
        self.runtime = Runtime.build(self.settings, migrate=True)
        self.factory = self.runtime.session_factory
        self.add_mailbox(self.email)

    def add_mailbox(self, email: str) -> None:
        """Add a rep's mailbox as ``calsync mailboxes add`` would, on this engine's protocol."""
        with self.factory() as db:
            rep = rep_by_email(email) or self.world.rep
            # The backend only for a new mailbox: an existing one keeps its own (a move changes it, not an add).
            new = mailboxes.find(db, email) is None
            mailbox = mailboxes.add(db, email, rep.salesforce_user_id, **({"backend": self.protocol} if new else {}))
            mailbox.time_zone = rep.timezone
            db.commit()

    def sync(self, *, now: dt.datetime | None = None, force_category_check: bool = False) -> SessionResult:
        result = run_session(
            self.factory,
            self.email,
            **self.connectors(),
            now=now,
            force_category_check=force_category_check,
        )
        assert result.status != "failed", result.error
        return result

    def item_id(self, ews_id: str) -> str:
        """The id the engine's connector knows an Outlook item by, from the id an exchangelib actor sees: the same
        id on EWS, its immutable id on Graph (what ``translateExchangeIds`` to ``restImmutableEntryId`` answers)."""
        if self.protocol != "graph":
            return ews_id
        return graph_ids.immutable_id(graph_ids.parse(ews_id))

    def connectors(self, email: str | None = None) -> dict:
        """A session's connectors, on the environment's connection settings (the mailbox's own login if any);
        the runtime picks EWS or Graph by the mailbox's backend."""
        email = email or self.email
        exchange = self.runtime.exchange(email, self.settings)
        return {"salesforce": self.runtime.salesforce(self.settings), "exchange": exchange}

    def converge(self, sessions: int = 3) -> SessionResult:
        """Run sessions until one writes nothing (at most ``sessions``); return that quiet one."""
        for _ in range(sessions):
            result = self.sync()
            if result.writes == 0:
                return result
        raise AssertionError(f"no quiet session after {sessions}: last {result.to_json()}")

    def set_policy(self, **settings) -> None:
        kind = settings.pop("kind", "event")
        with self.factory() as db:
            policy_store.save(db, Policy(kind=kind, **settings))
            db.commit()

    def policies(self) -> PolicySet:
        with self.factory() as db:
            return policy_store.load(db)

    def health(self) -> list[HealthEntry]:
        with self.factory() as db:
            return list(db.scalars(select(HealthEntry).where(HealthEntry.status == "open")))

    def links(self) -> list[Link]:
        with self.factory() as db:
            return list(db.scalars(select(Link)))


def check_meeting_messages(engine: Engine) -> None:
    """The teardown check of every engine test (see the module docstring)."""
    if not engine.expect_meeting_messages:
        engine.world.assert_no_meeting_messages()


@pytest.fixture
def engine(world, sandbox_settings, exchange_protocol) -> Iterator[Engine]:
    made = Engine(sandbox_settings, world, world.rep.email, protocol=exchange_protocol)
    exchange = made.connectors()["exchange"]
    assert getattr(exchange, "protocol", "ews") == exchange_protocol, exchange  # the runtime picks by backend
    exchange.close()
    yield made
    check_meeting_messages(made)
