"""The schema migrates up and down on every backend, and the models keep what they are given."""

import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from calsync.database import current_revision, downgrade, make_engine, upgrade
from sync.models import Base, HealthEntry, Link, Mailbox, SyncSession


def test_upgrade_creates_every_model_table(database_url):
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert current_revision(database_url) is not None


def test_downgrade_to_base_and_back(database_url):
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
    engine.dispose()
    upgrade(database_url)
    assert current_revision(database_url) is not None


def test_migrations_match_models(database_url):
    """A model change without a migration fails here (autogenerate finds nothing to do)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_models_round_trip_with_aware_datetimes(db_session):
    stamp = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    mailbox = Mailbox(email="alice.archer@calsync.example", salesforce_user_id="005000000000000001")
    mailbox.links.append(
        Link(
            kind="event",
            origin="exchange",
            exchange_item_id="AAMk==",
            salesforce_modstamp=stamp,
            exchange_base={"subject": "Kick-off"},
        )  # fmt: skip
    )
    db_session.add(mailbox)
    db_session.commit()
    db_session.expire_all()
    link = db_session.scalars(select(Link)).one()
    assert link.salesforce_modstamp == stamp
    assert link.salesforce_modstamp.tzinfo is not None
    assert link.exchange_base == {"subject": "Kick-off"}
    assert len(link.sync_key) == 36 and link.state == "pending"


def test_naive_datetimes_are_refused(db_session):
    db_session.add(Mailbox(email="x@calsync.example", next_sync_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        db_session.commit()


def test_one_link_per_exchange_item_per_mailbox(db_session):
    mailbox = Mailbox(email="bob.baker@calsync.example")
    db_session.add(mailbox)
    db_session.flush()
    db_session.add_all(
        [Link(mailbox_id=mailbox.id, kind="event", origin="exchange", exchange_item_id="same") for _ in range(2)]
    )
    with pytest.raises(IntegrityError):
        db_session.commit()


def test_deleting_a_mailbox_removes_its_rows(db_session):
    mailbox = Mailbox(email="carol.chen@calsync.example")
    db_session.add(mailbox)
    db_session.flush()
    db_session.add_all(
        [
            SyncSession(mailbox_id=mailbox.id, counts={"created": {"salesforce": 2}}),
            HealthEntry(mailbox_id=mailbox.id, item_ref="exchange:1", side="exchange", code="c", message="m"),
        ]
    )
    db_session.commit()
    db_session.delete(mailbox)
    db_session.commit()
    assert db_session.scalars(select(SyncSession)).all() == []
    assert db_session.scalars(select(HealthEntry)).all() == []
