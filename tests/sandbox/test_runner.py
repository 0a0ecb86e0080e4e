"""`calsync sandbox` end to end: all three sandboxes start, seeded consistently, and the info file tells the
real clients (simple-salesforce, exchangelib, PyJWT) everything they need."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2013_SP1
from simple_salesforce import Salesforce

from sandbox.runner import SandboxOptions, start_sandboxes
from sandbox.seed import REPS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with start_sandboxes(SandboxOptions(state_dir=tmp_path_factory.mktemp("sandbox"), seed="demo")) as sandboxes:
        yield sandboxes


def _session(ca_file):
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session


def test_info_has_the_documented_shape(running):
    info = running.info
    sf, ex, idp = info["salesforce"], info["exchange"], info["identity"]
    assert {"instance_url", "ca_file", "users"} <= set(sf)
    assert {"email", "user_id", "session_id"} <= set(sf["users"][0])
    assert {"endpoint", "ca_file", "version", "service_account", "mailboxes"} <= set(ex)
    assert {"username", "password"} <= set(ex["service_account"])
    assert {"email", "username", "password"} <= set(ex["mailboxes"][0])
    assert {"issuer", "jwks_uri", "token_endpoint", "audience"} <= set(idp)
    graph = info["graph"]
    assert {"base_url", "authority", "tenant_id", "client_id", "client_secret", "certificate_file",
            "private_key_file", "ca_file", "mailboxes", "on_premises"} <= set(graph)  # fmt: skip
    assert {"email", "id"} <= set(graph["mailboxes"][0])
    on_premises = {r.email for r in REPS if not r.exchange_online}
    assert on_premises and set(graph["on_premises"]) == on_premises
    assert {m["email"] for m in graph["mailboxes"]} == {r.email for r in REPS} - on_premises


def test_the_same_reps_exist_in_all_three(running):
    info = running.info
    emails = {r.email for r in REPS}
    assert {u["email"] for u in info["salesforce"]["users"]} >= emails
    assert {m["email"] for m in info["exchange"]["mailboxes"]} >= emails
    sf_user = next(u for u in info["salesforce"]["users"] if u["email"] == REPS[0].email)
    sf = Salesforce(instance_url=info["salesforce"]["instance_url"], session_id=sf_user["session_id"],
                    session=_session(info["salesforce"]["ca_file"]))  # fmt: skip
    users = sf.query("SELECT Id, Email FROM User")["records"]
    assert {u["Email"].lower() for u in users} >= emails
    assert sf_user["user_id"] == REPS[0].salesforce_user_id


def test_demo_seed_gives_reps_calendars_and_salesforce_records(running):
    info = running.info
    rep = REPS[0]
    mailbox = next(m for m in info["exchange"]["mailboxes"] if m["email"] == rep.email)
    config = Configuration(service_endpoint=info["exchange"]["http_endpoint"],
                           credentials=Credentials(mailbox["username"], mailbox["password"]),
                           auth_type=BASIC, version=Version(build=EXCHANGE_2013_SP1))  # fmt: skip
    account = Account(rep.email, config=config, autodiscover=False, access_type=DELEGATE)
    items = list(account.calendar.all().only("subject", "categories"))
    assert len(items) >= 10
    assert any("Salesforce" in (i.categories or []) for i in items)
    sf_user = next(u for u in info["salesforce"]["users"] if u["email"] == rep.email)
    sf = Salesforce(instance_url=info["salesforce"]["instance_url"], session_id=sf_user["session_id"],
                    session=_session(info["salesforce"]["ca_file"]))  # fmt: skip
    events = sf.query(f"SELECT Id FROM Event WHERE OwnerId = '{rep.salesforce_user_id}'")
    tasks = sf.query(f"SELECT Id FROM Task WHERE OwnerId = '{rep.salesforce_user_id}'")
    assert events["totalSize"] > 0 and tasks["totalSize"] > 0


def test_identity_tokens_verify_against_the_published_jwks(running):
    idp = running.info["identity"]
    session = _session(idp["ca_file"])
    token = session.post(
        idp["token_endpoint"], data={"grant_type": "password", "username": REPS[2].email, "password": REPS[2].password}
    ).json()["access_token"]
    client = jwt.PyJWKClient(idp["jwks_uri"], ssl_context=__import__("ssl").create_default_context(
        cafile=idp["ca_file"]))  # fmt: skip
    claims = jwt.decode(token, client.get_signing_key_from_jwt(token).key, algorithms=["RS256"],
                        audience=idp["audience"], issuer=idp["issuer"])  # fmt: skip
    assert claims["preferred_username"] == REPS[2].email


def test_cli_writes_the_info_file_and_stops_cleanly_on_sigterm(tmp_path):
    info_path = tmp_path / "info.json"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", "sandbox", "--seed", "empty", "--info", str(info_path),
         "--state-dir", str(tmp_path / "state"), "--salesforce-port", "0", "--exchange-port", "0",
         "--exchange-https-port", "0", "--identity-port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not info_path.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert info_path.exists(), process.stdout.read() if process.poll() is not None else "no info file"
        assert oct(info_path.stat().st_mode & 0o777) == "0o600"
        info = json.loads(info_path.read_text())
        answer = _session(info["salesforce"]["ca_file"]).get(
            info["salesforce"]["instance_url"] + "/services/data/v59.0/limits/",
            headers={"Authorization": f"Bearer {info['salesforce']['users'][0]['session_id']}"},
        )
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Sandboxes stopped." in output
