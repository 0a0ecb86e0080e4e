"""The chaos soak: the real processes (sandboxes, two ``calsync worker``, ``calsync scheduler``, the listener when
there is one) under a seeded random workload of edits through the real clients, with faults injected at random
moments, then quiesced and checked against a ledger of every edit (docs/soak.md).

Run it with ``make soak`` (``SOAK_MINUTES``, default 20) or ``python -m tests.soak --minutes 2``. No module here is
named ``test_*.py``: pytest never collects the soak, so ``make test`` does not run it.
"""
