"""Failing examples the simulation found, replayed step by step as named tests (each failed before its fix).

They drive the same `SyncMachine` as the simulation, so the invariants checked are the same ones."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.simulation.machine import SIM_NOW, SyncMachine


@pytest.fixture
def machine(fresh_engine) -> SyncMachine:
    cls = type("Machine", (SyncMachine,), {"fresh_engine": staticmethod(fresh_engine)})
    m = cls()
    yield m
    m.teardown()


def _span(days: int, hour: int) -> tuple[dt.datetime, dt.datetime]:
    start = SIM_NOW.replace(hour=hour) + dt.timedelta(days=days)
    return start, start + dt.timedelta(hours=1)


def test_a_crashed_session_leaves_no_open_health_entry_once_a_session_succeeds(machine):
    """Found by the simulation: the mailbox-level ``internal_error`` entry of a session that crashed at a
    checkpoint stayed open for ever after the next sessions converged. Fixed: a session that runs to the end
    resolves the mailbox's session-failure entries."""
    machine.policies(winner="salesforce")
    machine.create_in_salesforce(words="Q&A <b>", span=_span(15, 21), location="Zoom 🎥", private=True)
    machine.create_in_outlook(words="Lunch", span=_span(34, 17), location="Café ☕", private=True)
    machine.nothing_duplicated_or_lost()
    machine.sync_and_crash(point="pending_saved")
    machine.nothing_duplicated_or_lost()
    machine.converge()  # asserts no open health entry


@pytest.mark.parametrize("fault", ["request_limit", "unavailable", "drop"])
def test_a_failed_session_leaves_no_open_health_entry_once_a_session_succeeds(machine, fault):
    """The same for sessions ended by REQUEST_LIMIT_EXCEEDED, a 503 or a dropped connection."""
    machine.policies(winner="exchange")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.sync_with_fault(fault=fault, n=3)
    machine.converge()
