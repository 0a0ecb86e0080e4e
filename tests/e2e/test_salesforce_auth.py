"""Salesforce sessions that stay alive: each flow (JWT bearer, client credentials, refresh token, static token)
connects and syncs against the sandbox; expired sessions are renewed once and the call retried once; a revoked
refresh token and wrong credentials end the session with a clear health entry, never a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from calsync.cli import main
from calsync.settings import Settings
from sync import connections, salesforce_connection
from sync.connectors.salesforce_auth import REVOKED_CODE, REVOKED_MESSAGE, fresh_providers
from sync.models import SyncSession
from sync.runtime import Runtime
from sync.session import run_session
from tests.e2e.actors import at
from tests.e2e.engine import Engine

REDIRECT = "http://localhost:5000/salesforce/oauth/callback"


@pytest.fixture(autouse=True)
def no_cached_sessions() -> Iterator[None]:
    """Every test starts without a session cached in this process (the sandboxes outlive the tests)."""
    with fresh_providers():
        yield


def settings_for(info_file: Path, database_url: str, flow: str, **env: str) -> Settings:
    values = {"CALSYNC_SANDBOX_INFO": str(info_file), "DATABASE_URL": database_url, "SALESFORCE_AUTH": flow}
    return Settings.from_env({"CALSYNC_ENV": "test", **values, **env})


def sync(engine: Engine, **kwargs):
    runtime = Runtime.build(engine.settings)
    salesforce = runtime.salesforce(engine.settings)
    exchange = runtime.exchange(engine.email, engine.settings)
    return run_session(engine.factory, engine.email, salesforce=salesforce, exchange=exchange, **kwargs)


def integration_user(world) -> str:
    return world.info["salesforce"]["oauth"]["integration_user"]["user_id"]


def other_key(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "not-the-registered-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return path


def refresh_token_of(world, email: str) -> str:
    """A refresh token of the web-server flow (what the panel's Connect Salesforce stores)."""
    oauth = world.info["salesforce"]["oauth"]
    http = requests.Session()
    http.trust_env, http.verify = False, world.info["salesforce"]["ca_file"]
    query = {"response_type": "code", "client_id": oauth["client_id"], "redirect_uri": REDIRECT, "login_hint": email}
    start = http.get(oauth["authorize_url"], params=query, allow_redirects=False)
    code = start.headers["Location"].split("code=", 1)[1].split("&", 1)[0]
    answer = http.post(oauth["token_url"], data={"grant_type": "authorization_code", "code": code,
                       "redirect_uri": REDIRECT, "client_id": oauth["client_id"],
                       "client_secret": oauth["client_secret"]})  # fmt: skip
    return answer.json()["refresh_token"]


def store_refresh_connection(settings: Settings, world, refresh_token: str) -> None:
    oauth = world.info["salesforce"]["oauth"]
    factory = Runtime.build(settings, migrate=True).session_factory
    config = {"flow": "refresh_token", "login_url": world.info["salesforce"]["instance_url"],
              "client_id": oauth["client_id"]}  # fmt: skip
    secrets = {"refresh_token": refresh_token, "client_secret": oauth["client_secret"]}
    with factory() as db:
        connections.save(db, connections.StoredConnection("salesforce", config, secrets), settings.secret_key)
        db.commit()


def stored_secrets(settings: Settings) -> dict:
    with Runtime.build(settings, migrate=True).session_factory() as db:
        return connections.load(db, "salesforce", settings.secret_key).secrets


def session_row(engine: Engine, session_id: int) -> SyncSession:
    with engine.factory() as db:
        return db.scalars(select(SyncSession).where(SyncSession.id == session_id)).one()


@pytest.mark.parametrize("flow", ["jwt", "client_credentials"])
def test_server_to_server_flows_connect_and_sync_with_the_rep_as_owner(flow, world, sandbox_info_file, database_url):
    engine = Engine(settings_for(sandbox_info_file, database_url, flow), world, world.rep.email)
    world.outlook().create(f"Signed in by {flow}", at(2, 10), at(2, 11))
    world.salesforce().create_event(Subject="Down from Salesforce", StartDateTime=at(3, 10), EndDateTime=at(3, 11))
    result = sync(engine)
    assert result.status == "ok", result.error
    assert result.created == {"salesforce": 1, "exchange": 1}
    created = world.salesforce().find_event(f"Signed in by {flow}")
    raw = next(r for r in world.salesforce_records("Event") if r["Id"] == created["Id"])
    # The integration user wrote it; the rep owns it (OwnerId), so it shows in the rep's calendar.
    assert raw["OwnerId"] == world.rep.salesforce_user_id
    assert raw["CreatedById"] == integration_user(world) != world.rep.salesforce_user_id
    assert world.outlook().find("Down from Salesforce") is not None


def test_static_token_flow_still_works_and_cannot_renew(world, engine):
    world.outlook().create("With the fixed token", at(2, 10), at(2, 11))
    assert sync(engine).status == "ok"
    token = engine.settings.salesforce_access_token
    assert world.expire_salesforce_session(token)
    result = sync(engine)
    assert result.status == "failed" and "cannot be renewed" in result.error
    assert [h.code for h in engine.health()] == ["salesforce_auth_failed"]


def test_sessions_expired_mid_session_are_renewed_once_without_duplicates(world, sandbox_info_file, database_url):
    engine = Engine(settings_for(sandbox_info_file, database_url, "jwt"), world, world.rep.email)
    for n in range(3):
        world.outlook().create(f"Batch item {n}", at(2, 9 + n), at(2, 10 + n))
    expired: list[int] = []

    def expire_before_the_write(point: str) -> None:
        # The feeds were read with the first session; the org ends it before the collection write.
        if point == "pending_saved" and not expired:
            expired.append(world.expire_salesforce_sessions())

    result = sync(engine, checkpoint=expire_before_the_write)
    assert expired and expired[0] >= 1
    assert result.status == "ok", result.error
    assert result.salesforce_reauths == 1 and result.created["salesforce"] == 3
    assert session_row(engine, result.session_id).salesforce_reauths == 1
    for n in range(3):
        assert world.salesforce().find_event(f"Batch item {n}") is not None  # exactly one each
    assert sync(engine).writes == 0


def test_a_second_refusal_ends_the_session_as_salesforce_auth_failed(world, sandbox_info_file, database_url):
    engine = Engine(settings_for(sandbox_info_file, database_url, "jwt"), world, world.rep.email)
    world.outlook().create("Never written", at(2, 10), at(2, 11))

    def refuse_every_session(point: str) -> None:
        if point == "pending_saved":
            world.set_salesforce_sessions(timeout_seconds=0.001)  # a new session is dead before its first use
            world.expire_salesforce_sessions()

    result = sync(engine, checkpoint=refuse_every_session)
    assert result.status == "failed"
    assert "refused the renewed session too" in result.error
    assert [h.code for h in engine.health()] == ["salesforce_auth_failed"]
    assert session_row(engine, result.session_id).salesforce_reauths == 1
    assert world.salesforce().find_event("Never written") is None


def test_refresh_token_flow_renews_and_persists_a_rotated_token(world, sandbox_info_file, database_url):
    settings = settings_for(sandbox_info_file, database_url, "token")  # the stored connection wins
    engine = Engine(settings, world, world.rep.email)
    world.set_salesforce_sessions(rotate_refresh_tokens=True)
    first = refresh_token_of(world, world.rep.email)
    store_refresh_connection(settings, world, first)
    world.outlook().create("Via a refresh token", at(2, 10), at(2, 11))
    assert sync(engine).status == "ok"
    second = stored_secrets(settings)["refresh_token"]
    assert second != first  # rotated at the first grant, and stored with the session
    world.expire_salesforce_sessions()
    world.outlook().create("After the timeout", at(2, 12), at(2, 13))
    result = sync(engine)
    assert result.status == "ok" and result.salesforce_reauths == 1
    third = stored_secrets(settings)["refresh_token"]
    assert third not in (first, second)
    with fresh_providers():  # another process: reads the stored session, no grant needed
        assert sync(engine).status == "ok"
        assert stored_secrets(settings)["refresh_token"] == third


def test_revoked_refresh_token_gives_a_health_entry_not_a_crash(world, sandbox_info_file, database_url):
    settings = settings_for(sandbox_info_file, database_url, "token")
    engine = Engine(settings, world, world.rep.email)
    refresh = refresh_token_of(world, world.rep.email)
    store_refresh_connection(settings, world, refresh)
    assert sync(engine).status == "ok"
    http = requests.Session()
    http.trust_env, http.verify = False, world.info["salesforce"]["ca_file"]
    assert http.post(world.info["salesforce"]["oauth"]["revoke_url"], data={"token": refresh}).status_code == 200
    result = sync(engine)
    assert result.status == "failed" and REVOKED_MESSAGE in result.error
    [entry] = engine.health()
    assert (entry.code, entry.item_ref) == (REVOKED_CODE, "mailbox")
    assert entry.message.startswith(f"salesforce refused our credentials: {REVOKED_MESSAGE}")
    with Runtime.build(settings, migrate=True).session_factory() as db:
        assert connections.load(db, "salesforce", settings.secret_key).config["revoked_at"]


def test_wrong_key_or_secret_is_a_clear_error_at_calsync_sync(world, sandbox_info_file, database_url, tmp_path):
    runner = CliRunner()
    base = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url}
    assert runner.invoke(main, ["mailboxes", "add", world.rep.email], env=base).exit_code == 0
    cases = [
        ({"SALESFORCE_AUTH": "jwt", "SALESFORCE_PRIVATE_KEY_FILE": str(other_key(tmp_path))},
         "Salesforce refused the JWT bearer sign-in: invalid_grant: invalid assertion (the signature does not "
         "match the certificate uploaded to the app"),
        ({"SALESFORCE_AUTH": "client_credentials", "SALESFORCE_CLIENT_SECRET": "not-the-secret"},
         "Salesforce refused the client credentials sign-in: invalid_client: invalid client credentials"),
    ]  # fmt: skip
    for env, words in cases:
        with fresh_providers():
            result = runner.invoke(main, ["sync", world.rep.email, "--json"], env={**base, **env})
        assert result.exit_code == 1, result.output
        report = json.loads(result.output)
        assert report["status"] == "failed" and words in report["error"], report["error"]
        assert "Traceback" not in result.output


def test_done_when_jwt_sync_keeps_working_after_the_org_expires_sessions(world, sandbox_info_file, database_url):
    """SALESFORCE_AUTH=jwt + the info file: `calsync sync` works, keeps working after POST
    /__sandbox__/sessions/expire, and the session record shows the re-authentication. Each invocation starts
    with an empty process cache, like a new process: the session is shared through the database."""
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url, "SALESFORCE_AUTH": "jwt"}
    runner = CliRunner()
    assert runner.invoke(main, ["mailboxes", "add", world.rep.email], env=env).exit_code == 0
    world.outlook().create("Before the timeout", at(2, 10), at(2, 11))
    reports = []
    for step in range(2):
        with fresh_providers():
            result = runner.invoke(main, ["sync", world.rep.email, "--json"], env=env)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.output))
        if step == 0:
            assert world.expire_salesforce_sessions() >= 1
            world.outlook().create("After the timeout", at(2, 12), at(2, 13))
    assert [r["salesforce_reauths"] for r in reports] == [0, 1]
    assert reports[1]["created"]["salesforce"] == 1
    settings = settings_for(sandbox_info_file, database_url, "jwt")
    with Runtime.build(settings, migrate=True).session_factory() as db:
        rows = db.scalars(select(SyncSession).order_by(SyncSession.id)).all()
        assert [r.salesforce_reauths for r in rows] == [0, 1]


def test_two_processes_renewing_at_once_make_one_grant_and_keep_the_rotated_token(world, sandbox_info_file,
                                                                                  database_url):  # fmt: skip
    """Two workers see the same expired session: the row lock lets one of them renew; the other takes its
    session. With rotation, a second grant would spend a refresh token already spent (the org revokes the
    chain), so exactly one grant must happen."""
    import threading

    from sync.connectors.salesforce_auth import TokenProvider

    settings = settings_for(sandbox_info_file, database_url, "token")
    world.set_salesforce_sessions(rotate_refresh_tokens=True)
    store_refresh_connection(settings, world, refresh_token_of(world, world.rep.email))
    factory = Runtime.build(settings).session_factory
    resolved = salesforce_connection.resolve(settings, factory)
    store = salesforce_connection._store  # noqa: SLF001
    workers = [TokenProvider(resolved.auth, store(settings, resolved, factory)) for _ in range(2)]
    first = workers[0].session()  # the first grant (nothing stored yet)
    assert workers[1].session() == first  # the second process reads it from the row
    world.expire_salesforce_sessions()
    barrier = threading.Barrier(2)
    renewed: list = [None, None]

    def renew(n: int) -> None:
        barrier.wait()
        renewed[n] = workers[n].renew(first.access_token)

    threads = [threading.Thread(target=renew, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert renewed[0] == renewed[1] and renewed[0].access_token != first.access_token
    assert sum(w.token_requests for w in workers) == 2  # the first grant and one renewal, not three
    engine = Engine(settings, world, world.rep.email)
    assert sync(engine).status == "ok"  # the stored refresh token is the live one of the chain
