"""Finding 11: mailbox data meets SOQL only through ``format_soql`` (the Salesforce user lookup by e-mail)."""

from __future__ import annotations

from sandbox.salesforce.schema import OBJECTS
from sync import mailboxes
from sync.runtime import Runtime
from sync.session import run_session

# Legal by our e-mail check; a hand-written escape of quotes only turns "\o" into an illegal SOQL escape.
ODD_EMAIL = "pat\\o'hara@calsync.example"
USER_ID = "005000000000099AAA"


def test_a_mailbox_address_with_a_backslash_and_a_quote_finds_its_salesforce_user(sandboxes, world, sandbox_settings):
    sandbox = sandboxes.salesforce
    with sandbox.lock:  # seed one more User (Users are not createable through the API)
        sandbox.store.insert_seed(OBJECTS["User"], {"Id": USER_ID, "Username": ODD_EMAIL, "LastName": "O'Hara",
                                                     "Name": "Pat O'Hara", "Email": ODD_EMAIL, "Alias": "pohara",
                                                     "IsActive": True, "TimeZoneSidKey": "Europe/London"})  # fmt: skip
    runtime = Runtime.build(sandbox_settings, migrate=True)
    factory = runtime.session_factory
    with factory() as db:
        mailboxes.add(db, ODD_EMAIL)  # no Salesforce user id: the session looks it up by e-mail
        db.commit()
    run_session(factory, ODD_EMAIL, salesforce=runtime.salesforce(sandbox_settings),
                exchange=runtime.exchange(ODD_EMAIL, sandbox_settings))  # fmt: skip
    with factory() as db:
        assert mailboxes.find(db, ODD_EMAIL).salesforce_user_id == USER_ID
