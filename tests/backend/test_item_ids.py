"""Finding 9: links, share requests and health references are keyed on the item id the server returns, so
other spellings of one id (no padding, other unused bits, REST form) name the same item."""

from __future__ import annotations

import base64

from sqlalchemy import select

from backend.globals import runtime_of
from sandbox.seed import PEOPLE
from sync.models import ShareRequest
from sync.runtime import Runtime
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.e2e.actors import at

WILE, PETER = PEOPLE[0], PEOPLE[4]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def spellings(ews_id: str) -> list[str]:
    """Other ways to write the same id that EWS accepts."""
    unpadded = ews_id.rstrip("=")
    last = unpadded[-1]
    other_bits = unpadded[:-1] + B64[B64.index(last) ^ 1]  # an unused low bit of the last character set
    assert base64.b64decode(other_bits + "=" * (-len(other_bits) % 4)) == base64.b64decode(ews_id)
    rest = other_bits.replace("/", "-").replace("+", "_")
    return [unpadded, other_bits, rest]


def _auth(token_for, world):
    return {"Authorization": f"Bearer {token_for(world.rep.email)}"}


def _requests(settings) -> list[ShareRequest]:
    with Runtime.build(settings).session_factory() as db:
        return list(db.scalars(select(ShareRequest)))


def test_every_spelling_of_an_item_id_is_one_item(api_client, api_app, token_for, world, run_worker):
    item_id = world.outlook().create("Pipeline review", at(2, 10), at(2, 11), categories=())
    auth = _auth(token_for, world)
    for spelling in spellings(item_id):
        answer = api_client.put(f"/api/v1/items/{spelling}/share", json={"whoIds": [WILE.salesforce_id]},
                                headers=auth)  # fmt: skip
        assert answer.status_code == 202, answer.get_json()
        assert answer.get_json()["item"]["item_id"] == item_id  # the server's spelling, whatever was sent
    settings = runtime_of(api_app).settings
    assert [r.exchange_item_id for r in _requests(settings)] == [item_id]  # one request, not three
    run_worker()
    assert _requests(settings) == []  # the session consumed it: nothing is left pending for ever
    for spelling in [item_id, *spellings(item_id)]:
        view = api_client.get(f"/api/v1/items/{spelling}", headers=auth).get_json()
        assert view["state"] == "synced" and view["item_id"] == item_id
        assert [w["id"] for w in view["who"]] == [WILE.salesforce_id]
    assert world.salesforce().find_event("Pipeline review")["WhoId"] == WILE.salesforce_id
