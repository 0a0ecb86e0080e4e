"""Finding 6: a mailbox is bound to the token's tid + oid; guests, mismatches and disabled mailboxes are
refused, and mismatches show in the admin panel, where an admin can also set the identity."""

from __future__ import annotations

import uuid

import jwt
import pytest

from sandbox.identity.provider import TENANT_ID
from sandbox.seed import REPS
from sync.models import Mailbox
from tests.admin_panel.conftest import ADMIN, add_accounts, csrf_of, log_in
from tests.backend.conftest import REP_EMAIL, bearer

OTHER_OID = str(uuid.UUID(int=13))


def _me(client, identity, **claims):
    return client.get("/api/v1/me", headers=bearer(identity.token(REP_EMAIL, extra_claims=claims or None)))


def _row(db_session, mailbox) -> Mailbox:
    db_session.expire_all()
    return db_session.get(Mailbox, mailbox.id)


def test_the_first_sign_in_binds_the_mailbox_to_tid_and_oid(client, identity, mailbox, db_session):
    assert _me(client, identity).status_code == 200
    row = _row(db_session, mailbox)
    assert (row.entra_tenant_id, row.entra_object_id) == (TENANT_ID, REPS[0].object_id)


def test_another_user_with_the_same_upn_is_refused_and_shown_in_the_panel(app, client, identity, mailbox, db_session,
                                                                          settings):  # fmt: skip
    assert _me(client, identity).status_code == 200  # the real user binds the mailbox
    answer = _me(client, identity, oid=OTHER_OID)  # e.g. a re-created account, or a tenant that reuses the UPN
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "identity_mismatch"
    add_accounts(settings.database_url)
    panel = app.test_client()
    assert log_in(panel, *ADMIN).status_code == 303
    page = panel.get(f"/admin/mailboxes/{mailbox.id}").get_data(as_text=True)
    assert "identity_mismatch" in page and OTHER_OID in page
    assert "identity_mismatch" in panel.get("/admin/health").get_data(as_text=True)


def test_a_renamed_user_keeps_the_mailbox_bound_to_their_object_id(client, identity, mailbox):
    assert _me(client, identity).status_code == 200
    renamed = _me(client, identity, preferred_username="alice.new-name@calsync.example")
    assert renamed.status_code == 200
    assert renamed.get_json()["email"] == REP_EMAIL


@pytest.mark.parametrize("claims", [{"acct": 1}, {"idp": "https://sts.windows.net/9188040d-6c67-4c5b-b112-36a304b66dad/"},
                                    {"idp": "live.com"}])  # fmt: skip
def test_guest_accounts_are_refused(client, identity, mailbox, db_session, claims):
    answer = _me(client, identity, **claims)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "guest_account"
    assert _row(db_session, mailbox).entra_object_id is None  # a guest never binds a mailbox


def test_a_mailbox_an_admin_disabled_is_refused(client, identity, mailbox, db_session):
    mailbox.enabled = False
    db_session.commit()
    answer = _me(client, identity)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "mailbox_disabled"


@pytest.mark.parametrize("claims", [{"oid": None}, {"tid": None}, {"oid": "not-a-guid"}])
def test_tokens_without_a_usable_tid_or_oid_are_invalid(client, identity, mailbox, claims):
    signed = jwt.decode(identity.token(REP_EMAIL, extra_claims=claims), options={"verify_signature": False})
    body = {k: v for k, v in signed.items() if v is not None}  # None: the claim is left out
    provider = identity.provider
    token = jwt.encode(body, provider._key, algorithm="RS256", headers={"kid": provider.kid})  # noqa: SLF001
    answer = client.get("/api/v1/me", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "invalid_token"


def test_an_admin_sets_the_identity_and_the_old_one_is_refused(app, client, identity, mailbox, db_session, settings):
    assert _me(client, identity).status_code == 200
    add_accounts(settings.database_url)
    panel = app.test_client()
    assert log_in(panel, *ADMIN).status_code == 303
    token = csrf_of(panel.get(f"/admin/mailboxes/{mailbox.id}"))
    bad = panel.post(f"/admin/mailboxes/{mailbox.id}/identity",
                     data={"csrf_token": token, "tenant_id": TENANT_ID, "object_id": "nope"})  # fmt: skip
    assert bad.status_code == 400 and "must be a GUID" in bad.get_data(as_text=True)
    saved = panel.post(f"/admin/mailboxes/{mailbox.id}/identity",
                       data={"csrf_token": token, "tenant_id": TENANT_ID, "object_id": OTHER_OID})  # fmt: skip
    assert saved.status_code == 303
    assert _me(client, identity, oid=OTHER_OID).status_code == 200
    assert _me(client, identity).get_json()["error"]["code"] == "identity_mismatch"
    audit = panel.get("/admin/audit").get_data(as_text=True)
    assert "mailbox.identity" in audit
