"""Back-off for admin-panel sign-ins, per account and per client address, kept in Redis.

Each failed sign-in counts against the e-mail typed and against the client address (for an hour after the
last failure). Past a few free attempts every further failure locks that account, or that address, for
twice as long as the previous one (2 s, 4 s, 8 s, ... at most 15 minutes); tries during a lock count as
failures too, and a right password typed during a lock is refused like a wrong one (no oracle). A success
clears the account's count. Several workers or web processes share the counts because they live in Redis;
without Redis the panel still signs people in (logged), since locking every admin out would be worse.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import request
from redis import Redis
from redis.exceptions import RedisError

from admin_panel import audit

log = logging.getLogger(__name__)

PREFIX = "calsync:login"


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed before back-off starts
    base_seconds: int = 2
    cap_seconds: int = 15 * 60
    window_seconds: int = 3600  # failures are forgotten this long after the last one

    def delay(self, failures: int) -> int:
        if failures < self.free:
            return 0
        return min(self.cap_seconds, self.base_seconds * 2 ** (failures - self.free))


ACCOUNT = Rule(free=5)
ADDRESS = Rule(free=20)  # several admins may share an address (an office's NAT)


def _keys(kind: str, who: str) -> tuple[str, str]:
    digest = hashlib.sha256(who.strip().lower().encode()).hexdigest()[:32]
    return f"{PREFIX}:{kind}:{digest}:failures", f"{PREFIX}:{kind}:{digest}:locked"


class LoginThrottle:
    def __init__(self, redis: Redis, account: Rule = ACCOUNT, address: Rule = ADDRESS) -> None:
        self.redis = redis
        self.rules = {"account": account, "address": address}

    def _subjects(self, email: str, address: str) -> dict[str, str]:
        return {"account": email or "(empty)", "address": address or "(unknown)"}

    def retry_after(self, email: str, address: str) -> int:
        """Seconds until this account and address may try again (0: now)."""
        try:
            waits = [self.redis.pttl(_keys(kind, who)[1]) for kind, who in self._subjects(email, address).items()]
        except RedisError as exc:
            log.error("login throttle unavailable (Redis): %s", exc)
            return 0
        return max((-(-ms // 1000) for ms in waits if ms and ms > 0), default=0)

    def failed(self, email: str, address: str) -> dict[str, int]:
        """Count a failure; returns the failures so far per subject (``account``, ``address``)."""
        counts: dict[str, int] = {}
        try:
            for kind, who in self._subjects(email, address).items():
                rule = self.rules[kind]
                failures_key, lock_key = _keys(kind, who)
                with self.redis.pipeline() as pipe:
                    pipe.incr(failures_key)
                    pipe.expire(failures_key, rule.window_seconds)
                    failures = int(pipe.execute()[0])
                counts[kind] = failures
                delay = rule.delay(failures)
                if delay:
                    self.redis.set(lock_key, failures, ex=delay)
        except RedisError as exc:
            log.error("login throttle unavailable (Redis): %s", exc)
        return counts

    def succeeded(self, email: str) -> None:
        try:
            self.redis.delete(*_keys("account", email))
        except RedisError as exc:
            log.error("login throttle unavailable (Redis): %s", exc)


def log_failed_login(db, throttle: LoginThrottle, email: str, reason: str) -> None:
    """One log line and one audit entry per failed sign-in (``reason``: ``wrong`` or ``locked``), committed."""
    address = request.remote_addr or ""
    counts = throttle.failed(email, address)  # tries during a lock count too: guessing on only extends it
    log.warning("admin sign-in failed (%s) for %r from %s; failures: %s", reason, email[:320], address, counts)
    audit.record(db, actor=email[:320] or "(empty)", action="login.failed", target=f"account:{email[:300]}",
                 after={"address": address, "reason": reason,
                        **{f"{kind}_failures": n for kind, n in counts.items()}})  # fmt: skip
    db.commit()
