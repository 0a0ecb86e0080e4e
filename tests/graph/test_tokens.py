"""`MsalTokenSource` against the identity sandbox over HTTPS with real MSAL and a real Redis: certificate and
secret credentials, the cache shared by processes, one token request for many forked workers, invalidation,
and Entra's refusals as auth errors with stable codes."""

from __future__ import annotations

import multiprocessing
import os

import jwt
import pytest
import requests

from sync.connectors.errors import GraphAuthError
from sync.connectors.graph.auth import MsalTokenSource

from .conftest import REDIS_URL, credentials


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _me(info: dict, token: str, email: str) -> requests.Response:
    return requests.get(f"{info['base_url']}/users/{email}", headers={"Authorization": f"Bearer {token}"},
                        verify=info["ca_file"], timeout=30)  # fmt: skip


@pytest.mark.parametrize("certificate", [True, False], ids=["certificate", "secret"])
def test_a_token_graph_accepts_by_certificate_or_secret(graph_info, redis, certificate):
    source = MsalTokenSource(credentials(graph_info, certificate=certificate), redis)
    token = source.token()
    claims = _claims(token)
    assert claims["aud"] == "https://graph.microsoft.com" and claims["appid"] == graph_info["client_id"]
    email = graph_info["mailboxes"][0]["email"]
    assert _me(graph_info, token, email).status_code == 200
    assert source.token() == token and source.requests == 1  # served from the process copy


def test_the_cache_lives_in_redis_so_a_new_process_asks_no_one(graph_info, redis):
    first = MsalTokenSource(credentials(graph_info), redis)
    token = first.token()
    assert redis.exists(first.credentials.cache_key())
    again = MsalTokenSource(credentials(graph_info), redis)  # what a forked job builds
    assert again.token() == token and again.requests == 0
    ttl = redis.ttl(first.credentials.cache_key())
    assert 0 < ttl <= 2 * 3600  # kept about as long as the token lives


def _worker(info: dict, queue) -> None:
    from redis import Redis

    source = MsalTokenSource(credentials(info), Redis.from_url(REDIS_URL))
    queue.put((source.token(), source.requests))


def test_forked_workers_that_all_miss_make_one_token_request(graph_info, redis):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_worker, args=(graph_info, queue)) for _ in range(6)]
    for w in workers:
        w.start()
    answers = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert len({token for token, _ in answers}) == 1
    assert sum(n for _, n in answers) == 1  # the lock let one worker ask; the others read its token


def test_invalidate_drops_the_refused_token_everywhere(graph_info, redis):
    source = MsalTokenSource(credentials(graph_info), redis)
    refused = source.token()
    source.invalidate()
    other = MsalTokenSource(credentials(graph_info), redis)
    fresh = other.token()
    assert fresh != refused and other.requests == 1  # the shared copy was dropped too
    assert source.token() == fresh and source.requests == 1  # and the first source picks up the new one


def test_invalidate_keeps_a_newer_token_another_worker_stored(graph_info, redis):
    stale = MsalTokenSource(credentials(graph_info), redis)
    stale.token()
    stale.invalidate()
    newer = MsalTokenSource(credentials(graph_info), redis)
    token = newer.token()
    stale._token = "a-token-graph-refused"  # noqa: SLF001 - this source's copy is an older token
    stale.invalidate()
    assert MsalTokenSource(credentials(graph_info), redis).token() == token


@pytest.mark.parametrize(
    ("changes", "code", "health_code", "words"),
    [
        (
            {"certificate": False, "client_secret": "not-the-secret"},
            "invalid_client",
            "graph_credentials_refused",
            "client secret is wrong",
        ),
        (
            {"client_id": "11111111-2222-3333-4444-555555555555"},
            "unauthorized_client",
            "graph_app_unknown",
            "no app with this client id",
        ),
        (
            {"tenant_id": "00000000-0000-0000-0000-0000000000ff", "authority_tenant": True},
            "invalid_tenant",
            "graph_unknown_tenant",
            "tenant",
        ),
        ({"thumbprint": "00" * 20}, "invalid_client", "graph_credentials_refused", "certificate"),
        ({"certificate": False}, "missing_credential", "graph_credentials_invalid", "certificate"),
    ],
    ids=["wrong-secret", "unknown-app", "unknown-tenant", "wrong-certificate", "no-credential"],
)
def test_entra_refusals_are_auth_errors_with_stable_codes(graph_info, redis, changes, code, health_code, words):
    changes = dict(changes)
    if changes.pop("authority_tenant", False):
        changes["authority"] = graph_info["authority"].rsplit("/", 1)[0] + "/" + changes["tenant_id"]
    if changes.get("certificate") is False and "client_secret" not in changes:
        changes["client_secret"] = ""
    source = MsalTokenSource(credentials(graph_info, **changes), redis)
    with pytest.raises(GraphAuthError) as caught:
        source.token()
    assert caught.value.code == code and caught.value.health_code == health_code
    assert words in str(caught.value) and caught.value.service == "exchange"
    assert not [k for k in redis.keys("calsync:graph:token-cache:*") if not k.endswith(b":lock")]  # nothing cached


def test_an_unreachable_identity_provider_is_transient(graph_info, redis):
    from sync.connectors.errors import TransientError

    source = MsalTokenSource(credentials(graph_info, authority="https://127.0.0.1:9/" + graph_info["tenant_id"]),
                             redis)  # fmt: skip
    with pytest.raises(TransientError):
        source.token()
    assert os.getpid()  # the test process survived MSAL's failure
