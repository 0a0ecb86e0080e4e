"""Run real sync sessions in end-to-end tests: the engine with its real connectors against the sandboxes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from calsync.settings import Settings
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

    def __post_init__(self) -> None:
        self.runtime = Runtime.build(self.settings, migrate=True)
        self.factory = self.runtime.session_factory
        with self.factory() as db:
            rep = rep_by_email(self.email) or self.world.rep
            mailbox = mailboxes.add(db, self.email, rep.salesforce_user_id)
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

    def connectors(self) -> dict:
        """A session's connectors, on the environment's connection settings (the mailbox's own login if any)."""
        return {
            "salesforce": self.runtime.salesforce(self.settings),
            "exchange": self.runtime.exchange(self.email, self.settings),
        }

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


@pytest.fixture
def engine(world, sandbox_settings) -> Engine:
    return Engine(sandbox_settings, world, world.rep.email)
