"""The Connections page: Salesforce flows and their fields, Test connection, Connect Salesforce (admins only,
CSRF-checked POST, state bound to the admin's session, redirect_uri from the public URL), the revoked banner,
and the Exchange account's password asked again when its target changes (security review, issue 13:
findings 1, 3 and 17)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from admin_panel.accounts import create
from backend.globals import runtime_of
from calsync.database import make_engine, make_session_factory
from calsync.settings import ConfigError, Settings
from calsync.web import create_app
from sync import connections
from sync.connectors.salesforce_auth import REVOKED_MESSAGE, fresh_providers
from sync.runtime import Runtime
from tests.admin_panel.conftest import ADMIN, REDIS_URL, VIEWER, add_accounts, csrf_of, log_in

OTHER_ADMIN = ("second.admin@calsync.example", "admin-password-2")
AUTHORIZE = re.compile(r'id="sf-authorize" href="([^"]+)"')


@pytest.fixture(autouse=True)
def no_cached_sessions() -> Iterator[None]:
    with fresh_providers():
        yield


@pytest.fixture
def sf_app(sandbox_settings, redis_db):
    """The backend app on the sandboxes' settings (the panel's Salesforce actions reach the sandbox)."""
    settings = replace(sandbox_settings, redis_url=REDIS_URL)
    add_accounts(settings.database_url)
    app = create_app(settings, {"TESTING": True})
    yield app
    runtime_of(app).close()


def client_as(app, account):
    client = app.test_client()
    assert log_in(client, *account).status_code == 303
    return client


def stored(app) -> connections.StoredConnection | None:
    settings = runtime_of(app).settings
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            return connections.load(db, "salesforce", settings.secret_key)
    finally:
        engine.dispose()


def save_salesforce(client, **fields):
    token = csrf_of(client.get("/admin/connections"))
    return client.post("/admin/connections/salesforce", data={"csrf_token": token, **fields})


def jwt_fields(info: dict, key_pem: str | None = None) -> dict[str, str]:
    app = info["salesforce"]["oauth"]["jwt"]
    return {"flow": "jwt", "login_url": app["login_url"], "client_id": app["client_id"], "username": app["username"],
            "private_key": key_pem if key_pem is not None else Path(app["private_key_file"]).read_text()}  # fmt: skip


def authorize_url(response) -> str:
    """Where the Connect Salesforce page sends the browser on."""
    assert response.status_code == 200, response.get_data(as_text=True)
    match = AUTHORIZE.search(response.get_data(as_text=True))
    assert match, "no authorize link"
    return html.unescape(match.group(1))


def page(client) -> str:
    return client.get("/admin/connections").get_data(as_text=True)


# -- finding 1: only admins connect, starting with a CSRF-checked POST, state bound to their session ----------
def test_viewers_cannot_start_or_finish_connect_salesforce(sf_app):
    viewer = client_as(sf_app, VIEWER)
    assert viewer.get("/admin/connections/salesforce/start").status_code == 405  # no GET that changes things
    token = csrf_of(viewer.get("/admin/connections"))
    assert viewer.post("/admin/connections/salesforce/start", data={"csrf_token": token}).status_code == 403
    # Even with a pending authorization in the viewer's own session, the callback refuses to save.
    with viewer.session_transaction() as session:
        session["sf_oauth"] = {"state": "s", "verifier": "v", "uid": 2, "redirect_uri": "http://localhost/cb",
                               "login_url": "https://localhost", "client_id": "x"}  # fmt: skip
    assert viewer.get("/admin/connections/salesforce/callback?state=s&code=c").status_code == 403
    assert stored(sf_app) is None


def test_connect_needs_the_csrf_token_and_the_answer_must_come_back_to_the_admin_who_started(sf_app, world):
    admin = client_as(sf_app, ADMIN)
    assert admin.post("/admin/connections/salesforce/start").status_code == 400  # no CSRF token
    token = csrf_of(admin.get("/admin/connections"))
    start = authorize_url(admin.post("/admin/connections/salesforce/start", data={"csrf_token": token}))
    query = {k: v[0] for k, v in parse_qs(urlsplit(start).query).items()}
    # The org approves (login_hint: the sandbox's shortcut) and redirects with a code and the state.
    http = requests.Session()
    http.trust_env, http.verify = False, world.info["salesforce"]["ca_file"]
    approved = http.get(start, params={"login_hint": world.rep.email}, allow_redirects=False)
    back = urlsplit(approved.headers["Location"])
    assert parse_qs(back.query)["state"] == [query["state"]]
    # Another admin's browser (a forged cross-site link, say) cannot land this answer.
    add_other_admin(sf_app)
    other = client_as(sf_app, OTHER_ADMIN)
    assert other.get(f"{back.path}?{back.query}").status_code == 400
    assert stored(sf_app) is None
    done = admin.get(f"{back.path}?{back.query}")
    assert done.status_code == 303, done.get_data(as_text=True)
    connection = stored(sf_app)
    assert connection.config["flow"] == "refresh_token" and connection.secrets["refresh_token"]
    assert "Salesforce connected" in page(admin)
    # The same answer twice: the state was used up.
    assert admin.get(f"{back.path}?{back.query}").status_code == 400


def add_other_admin(app) -> None:
    engine = make_engine(runtime_of(app).settings.database_url)
    with make_session_factory(engine)() as db:
        create(db, *OTHER_ADMIN, role="admin")
        db.commit()
    engine.dispose()


# -- finding 17: the redirect_uri comes from the public URL, not the Host header ------------------------------
def test_redirect_uri_comes_from_the_public_url_not_the_host_header(sandbox_settings, redis_db):
    settings = replace(sandbox_settings, redis_url=REDIS_URL, public_url="https://calsync.example.com")
    add_accounts(settings.database_url)
    app = create_app(settings, {"TESTING": True})
    try:
        admin = client_as(app, ADMIN)
        token = csrf_of(admin.get("/admin/connections"))
        # The request names another host (a client chooses its Host header); the browser's cookie goes along.
        cookie = admin.get_cookie("calsync_admin").value
        raw = app.test_client(use_cookies=False)
        start = raw.post("/admin/connections/salesforce/start", data={"csrf_token": token},
                         headers={"Cookie": f"calsync_admin={cookie}"},
                         environ_overrides={"HTTP_HOST": "attacker.example"})  # fmt: skip
        redirect_uri = parse_qs(urlsplit(authorize_url(start)).query)["redirect_uri"][0]
        assert redirect_uri == "https://calsync.example.com/admin/connections/salesforce/callback"
    finally:
        runtime_of(app).close()


# -- finding 3: a changed Exchange target needs the password again; https only in production ------------------
def test_changing_the_exchange_endpoint_user_or_auth_needs_the_password_again(sf_app):
    admin = client_as(sf_app, ADMIN)
    base = {"endpoint": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc@example.com",
            "auth_type": "basic", "version": "Exchange2016"}  # fmt: skip

    def post(**fields):
        token = csrf_of(admin.get("/admin/connections"))
        return admin.post("/admin/connections/exchange", data={"csrf_token": token, **base, **fields})

    assert post(password="first-password").status_code == 303
    assert post().status_code == 303  # nothing moved: the stored password stays
    for change in ({"endpoint": "https://listener.example.net/EWS/Exchange.asmx"}, {"username": "other@example.com"},
                   {"auth_type": "oauth"}):  # fmt: skip
        refused = post(**change)
        assert refused.status_code == 400
        assert "password again" in refused.get_data(as_text=True)
    settings = runtime_of(sf_app).settings
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as db:
        exchange = connections.load(db, "exchange", settings.secret_key)
    engine.dispose()
    assert exchange.config["endpoint"] == base["endpoint"] and exchange.secrets["password"] == "first-password"
    assert post(endpoint="https://mail2.example.com/EWS/Exchange.asmx", password="second").status_code == 303


def test_production_wants_https_exchange_endpoints_in_the_panel_and_the_environment(sandbox_settings, redis_db):
    key = "k" * 40
    with pytest.raises(ConfigError, match="EXCHANGE_ENDPOINT must be an https URL"):
        Settings.from_env({"CALSYNC_ENV": "production", "CALSYNC_SECRET_KEY": key,
                           "EXCHANGE_ENDPOINT": "http://mail.example.com/EWS/Exchange.asmx"})  # fmt: skip
    settings = replace(sandbox_settings, environment="production", secret_key=key, redis_url=REDIS_URL)
    add_accounts(settings.database_url)
    app = create_app(settings, {"TESTING": True})
    try:
        admin = client_as(app, ADMIN)
        token = csrf_of(admin.get("/admin/connections"))
        answer = admin.post("/admin/connections/exchange", data={
            "csrf_token": token, "endpoint": "http://mail.example.com/EWS/Exchange.asmx", "username": "svc",
            "password": "pw", "auth_type": "basic", "version": "Exchange2016"})  # fmt: skip
        assert answer.status_code == 400 and "https URL in production" in answer.get_data(as_text=True)
    finally:
        runtime_of(app).close()


# -- flows, Test connection, last success / last error ----------------------------------------------------------
def test_jwt_connection_saved_in_the_panel_passes_test_connection(sf_app, world):
    admin = client_as(sf_app, ADMIN)
    response = save_salesforce(admin, **jwt_fields(world.info))
    assert response.status_code == 303, response.get_data(as_text=True)
    connection = stored(sf_app)
    assert connection.config["flow"] == "jwt" and "BEGIN PRIVATE KEY" in connection.secrets["private_key"]
    body = page(admin)
    assert "BEGIN PRIVATE KEY" not in body and 'id="sf-flow">JWT bearer' in body
    token = csrf_of(admin.get("/admin/connections"))
    tested = admin.post("/admin/connections/salesforce/test", data={"csrf_token": token}, follow_redirects=True)
    text = tested.get_data(as_text=True)
    org_id = world.info["salesforce"]["org_id"]
    username = world.info["salesforce"]["oauth"]["jwt"]["username"]
    assert f"Test connection succeeded. Connected to org {org_id} as {username}" in text
    assert "API requests today:" in text
    assert stored(sf_app).config["last_success_at"]
    # Sessions use the stored connection; one renewed after the org ended its session says so on the page.
    from sync import mailboxes
    from sync.session import run_session

    settings = runtime_of(sf_app).settings
    factory = Runtime.build(settings, migrate=True).session_factory
    with factory() as db:
        mailboxes.add(db, world.rep.email, world.rep.salesforce_user_id)
        db.commit()
    for _ in range(2):
        result = run_session(factory, world.rep.email, salesforce=Runtime.build(settings).salesforce(settings),
                             exchange=Runtime.build(settings).exchange(world.rep.email, settings))  # fmt: skip
        assert result.status == "ok", result.error
        world.expire_salesforce_sessions()
    assert result.salesforce_reauths == 1
    assert "(1 Salesforce re-authentication)" in admin.get("/admin/sessions").get_data(as_text=True)


def test_wrong_key_or_secret_is_a_clear_error_at_test_connection(sf_app, world):
    admin = client_as(sf_app, ADMIN)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8, no_password = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    other = key.private_bytes(serialization.Encoding.PEM, pkcs8, no_password).decode()
    assert save_salesforce(admin, **jwt_fields(world.info, other)).status_code == 303
    token = csrf_of(admin.get("/admin/connections"))
    text = admin.post("/admin/connections/salesforce/test", data={"csrf_token": token},
                      follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Test connection failed: Salesforce refused the JWT bearer sign-in: invalid_grant: invalid assertion" in text
    assert "upload the certificate of this private key" in text
    assert "invalid assertion" in stored(sf_app).config["last_error"]

    app = world.info["salesforce"]["oauth"]["client_credentials"]
    fields = {"flow": "client_credentials", "login_url": app["login_url"], "client_id": app["client_id"],
              "client_secret": "not-the-secret"}  # fmt: skip
    assert save_salesforce(admin, **fields).status_code == 303
    token = csrf_of(admin.get("/admin/connections"))
    text = admin.post("/admin/connections/salesforce/test", data={"csrf_token": token},
                      follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "invalid_client: invalid client credentials (check the consumer key and secret" in text


def test_a_changed_login_url_or_consumer_key_needs_the_secret_again(sf_app, world):
    admin = client_as(sf_app, ADMIN)
    app = world.info["salesforce"]["oauth"]["client_credentials"]
    fields = {"flow": "client_credentials", "login_url": app["login_url"], "client_id": app["client_id"],
              "client_secret": app["client_secret"]}  # fmt: skip
    assert save_salesforce(admin, **fields).status_code == 303
    assert save_salesforce(admin, **{**fields, "client_secret": ""}).status_code == 303  # same target: kept
    moved = save_salesforce(admin, **{**fields, "client_secret": "", "login_url": "https://listener.example.net"})
    assert moved.status_code == 400 and "consumer secret is required again" in moved.get_data(as_text=True)
    assert stored(sf_app).config["login_url"] == app["login_url"]
    bad = save_salesforce(admin, **jwt_fields(world.info, "-----BEGIN PRIVATE KEY-----\nnope\n"))
    assert bad.status_code == 400 and "unencrypted PEM RSA private key" in bad.get_data(as_text=True)
    viewer = client_as(sf_app, VIEWER)
    token = csrf_of(viewer.get("/admin/connections"))
    assert viewer.post("/admin/connections/salesforce", data={"csrf_token": token, **fields}).status_code == 403


def test_a_revoked_connection_shows_a_banner_on_every_page(sf_app, world):
    from sync import mailboxes
    from sync.session import run_session

    admin = client_as(sf_app, ADMIN)
    token = csrf_of(admin.get("/admin/connections"))
    start = authorize_url(admin.post("/admin/connections/salesforce/start", data={"csrf_token": token}))
    http = requests.Session()
    http.trust_env, http.verify = False, world.info["salesforce"]["ca_file"]
    back = urlsplit(http.get(start, params={"login_hint": world.rep.email},
                             allow_redirects=False).headers["Location"])  # fmt: skip
    assert admin.get(f"{back.path}?{back.query}").status_code == 303
    assert "salesforce-banner" not in admin.get("/admin/").get_data(as_text=True)
    refresh = stored(sf_app).secrets["refresh_token"]
    assert http.post(world.info["salesforce"]["oauth"]["revoke_url"], data={"token": refresh}).status_code == 200
    world.expire_salesforce_sessions()

    settings = runtime_of(sf_app).settings
    factory = Runtime.build(settings, migrate=True).session_factory
    with factory() as db:
        mailboxes.add(db, world.rep.email, world.rep.salesforce_user_id)
        db.commit()
    result = run_session(factory, world.rep.email, salesforce=Runtime.build(settings).salesforce(settings),
                         exchange=Runtime.build(settings).exchange(world.rep.email, settings))  # fmt: skip
    assert result.status == "failed" and REVOKED_MESSAGE in result.error
    for path in ("/admin/", "/admin/health", "/admin/connections"):
        body = admin.get(path).get_data(as_text=True)
        assert f'id="salesforce-banner">{REVOKED_MESSAGE}' in body, path
    assert "Salesforce connection revoked: connect again" in admin.get("/admin/health").get_data(as_text=True)
