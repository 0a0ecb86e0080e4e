"""An Exchange Web Services (EWS) sandbox that unmodified exchangelib talks to.

SOAP at ``/EWS/Exchange.asmx`` (Exchange 2013 SP1 level, validated against ``schema/``), many mailboxes, Basic
and Bearer auth, impersonation by a service account, calendar items with every writable property
(``properties.py``), attachments and MimeContent, recurring series, meeting requests, responses and
cancellations between mailboxes (``meetings.py``), SyncFolderItems, SyncFolderHierarchy, MoveItem/CopyItem,
folder writes (``services/folders.py``), subscriptions and notifications (pull, push, streaming:
``notifications.py``), the master category list, ConvertId, ResolveNames and fault injection; request versions
as in ``versions.py``. The admin API lives under ``/__sandbox__`` (``faults``, ``reset``, ``log``,
``notifications``). What still differs from Exchange: docs/sandboxes.md and each module's docstring.

    sandbox = ExchangeSandbox(seed="demo")
    server = ServerThread(sandbox.wsgi_app)
    endpoint = server.url + "/EWS/Exchange.asmx"
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sandbox import seed as shared_seed

from . import calendar
from .app import ADMIN_PREFIX, EWS_PATH, EwsApp
from .faults import Faults
from .notifications import Notifications
from .store import Store

log = logging.getLogger("sandbox.exchange")
VERSION = "Exchange2013_SP1"

__all__ = ["EWS_PATH", "VERSION", "ExchangeSandbox"]


class ExchangeSandbox:
    def __init__(
        self,
        *,
        seed: str = "demo",
        state_file: Path | None = None,
        faults: dict | None = None,
        validate_schema: bool = False,
        bearer_tokens: Callable[[str], str | None] | None = None,
        notification_minute_seconds: float = 60.0,
    ) -> None:
        if seed not in ("demo", "empty"):
            raise ValueError(f"unknown seed {seed!r} (use 'demo' or 'empty')")
        self.seed = seed
        self.state_file = Path(state_file) if state_file else None
        self.validate_schema = validate_schema
        self.bearer_tokens = bearer_tokens
        self.faults = Faults(faults)
        self.schema_errors: list[str] = []
        self.internal_errors: list[str] = []  # sandbox bugs (answered as ErrorInternalServerError)
        self._log_lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self.reset_log()
        self._validator = None
        if self.state_file and self.state_file.exists():
            self.store = Store.load(self.state_file, calendar.extended_key)
        else:
            self.store = self._seeded_store()
            self.persist()
        # After seeding: the demo's items are there before any subscription could watch them.
        self.notifications = Notifications(self, notification_minute_seconds)
        self.wsgi_app = EwsApp(self)

    def stop(self) -> None:
        """Stop the push-notification thread (servers are stopped by their owner)."""
        self.notifications.stop()

    def _seeded_store(self) -> Store:
        previous = getattr(self, "store", None)
        store = Store()
        if previous is not None:
            # A reseeded sandbox (the e2e tests' reset) keeps reporting writes to its subscriptions.
            store.observers = list(previous.observers)
        self.store = store
        for rep in shared_seed.REPS:
            store.add_mailbox(rep.email, rep.password, rep.name, rep.timezone)
        if self.seed == "demo":
            from .demo import seed_demo

            seed_demo(self, store)
        return store

    # -- accounts -----------------------------------------------------------------------------------------------
    @staticmethod
    def is_service_account(username: str) -> bool:
        return username.lower() == shared_seed.SERVICE_ACCOUNT[0].lower()

    def check_password(self, username: str, password: str) -> str | None:
        user = username.split("\\")[-1].strip()
        if self.is_service_account(user):
            return (
                shared_seed.SERVICE_ACCOUNT[0]
                if secrets.compare_digest(password, shared_seed.SERVICE_ACCOUNT[1])
                else None
            )
        with self.store.lock:
            mb = self.store.mailbox(user)
            if mb is not None and secrets.compare_digest(password.encode(), mb.password.encode()):
                return mb.email
        return None

    def issue_token(self, username: str) -> str:
        """A static bearer token for ``username`` (a mailbox or the service account)."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = username
        return token

    def check_token(self, token: str) -> str | None:
        if not token:
            return None
        user = self._tokens.get(token)
        if user is None and self.bearer_tokens is not None:
            try:
                user = self.bearer_tokens(token)
            except Exception:  # a validator that fails means "not valid", never a 500
                log.exception("bearer token validator failed")
                user = None
        if user is None:
            return None
        if self.is_service_account(user):
            return shared_seed.SERVICE_ACCOUNT[0]
        with self.store.lock:
            mb = self.store.mailbox(user)
        return mb.email if mb else None

    def mailbox_emails(self) -> list[str]:
        with self.store.lock:
            return [mb.email for mb in self.store.mailboxes.values()]

    def add_mailbox(self, email: str, password: str) -> None:
        with self.store.lock:
            self.store.add_mailbox(email, password)
            self.persist()

    def mailbox_email_set(self) -> set[str]:
        return set(self.store.mailboxes)

    def directory(self) -> calendar.Directory:
        names = {p.email: f"{p.first_name} {p.last_name}" for p in shared_seed.PEOPLE}
        names.update({mb.email: mb.name for mb in self.store.mailboxes.values()})
        return calendar.Directory(names)

    def directory_people(self) -> list[tuple[str, str, str, str, str]]:
        """(email, display name, first, last, "mailbox" | "contact") of everyone ResolveNames knows."""
        out = []
        for mb in self.store.mailboxes.values():
            first, _, last = mb.name.partition(" ")
            out.append((mb.email, mb.name, first, last, "mailbox"))
        for p in shared_seed.PEOPLE:
            out.append((p.email, f"{p.first_name} {p.last_name}", p.first_name, p.last_name, "contact"))
        return out

    # -- schema validation --------------------------------------------------------------------------------------
    @property
    def validator(self):
        if self._validator is None:
            from .schema import Validator

            self._validator = Validator()
        return self._validator

    def record_schema_errors(self, where: str, errors: list[str]) -> None:
        for e in errors:
            message = f"{where}: {e}"
            log.error("EWS schema violation: %s", message)
            with self._log_lock:
                self.schema_errors.append(message)

    # -- logs -------------------------------------------------------------------------------------------------------
    def reset_log(self) -> None:
        with self._log_lock:
            self.requests: Counter[str] = Counter()
            self.requests_by_login: Counter[str] = Counter()  # who authenticated (service account or a rep)
            self.calls: list[dict] = []

    def count_request(self, operation: str | None, login: str | None = None) -> None:
        with self._log_lock:
            self.requests[operation or "(none)"] += 1
            if login:
                self.requests_by_login[login.lower()] += 1

    def record_call(self, entry: dict) -> None:
        with self._log_lock:
            self.calls.append(entry)

    def log_snapshot(self) -> dict:
        with self._log_lock:
            return {
                "requests": dict(self.requests),
                "requests_by_login": dict(self.requests_by_login),
                "calls": list(self.calls),
                "invitations": [c for c in self.calls if c["sent"] and c["kind"] in ("invitation", "update")],
                "cancellations": [c for c in self.calls if c["sent"] and c["kind"] == "cancellation"],
                # Meeting responses (accept, tentative, decline) an attendee sent (sandbox/exchange/meetings.py).
                "responses": [c for c in self.calls if c["sent"] and c["kind"] == "response"],
                "schema_errors": list(self.schema_errors),
            }

    # -- persistence and info ---------------------------------------------------------------------------------
    def persist(self) -> None:
        if self.state_file is not None:
            with self.store.lock:
                self.state_file.parent.mkdir(parents=True, exist_ok=True)
                self.store.save(self.state_file)

    def info(self, endpoint: str) -> dict:
        base = endpoint[: -len(EWS_PATH)] if endpoint.endswith(EWS_PATH) else endpoint.rstrip("/")
        with self.store.lock:
            mailboxes = [
                {"email": mb.email, "username": mb.email, "password": mb.password}
                for mb in self.store.mailboxes.values()
            ]
        return {
            "endpoint": endpoint,
            "version": VERSION,
            "service_account": {"username": shared_seed.SERVICE_ACCOUNT[0], "password": shared_seed.SERVICE_ACCOUNT[1]},
            "mailboxes": mailboxes,
            "admin_url": base + ADMIN_PREFIX,
        }
